#!/usr/bin/env sh
# Import reader throughput, the reader alone (release): a deterministic 1,000,000-row CSV of
# AU mobile contacts (five written forms, 5% duplicates, 1% invalid) and a 100,000-row XLSX,
# each read whole (open, detect, every row), median of RUNS runs, with peak memory.
#   bench/import_read.sh [CSV_ROWS] [XLSX_ROWS] [RUNS]    (defaults 1000000 100000 3)
set -eu
cd "$(dirname "$0")/.."
cargo run --release -p stoplist --features bench --example bench_read -- "$@"
