#!/usr/bin/env sh
# Report export throughput and peak memory (release), through stoplist-export's public API:
# generated Incoming-replies rows (RFC 3339 time, +614 number, 40-character reply, class,
# campaign, actions) written to a temporary file, as the server does.
#   bench/export.sh [DELIMITED_ROWS] [XLSX_ROWS] [PDF_ROWS...]
#   (defaults 1000000 1000000 10000 100000)
# Targets (SPEC 3.8, the reports issue): CSV 1M rows < 2 s and < 100 MB; PDF 10k rows < 5 s.
set -eu
cd "$(dirname "$0")/.."
DELIMITED_ROWS=${1:-1000000}
XLSX_ROWS=${2:-1000000}
if [ $# -gt 2 ]; then shift 2; PDF_ROWS="$*"; else PDF_ROWS="10000 100000"; fi

if [ ! -x /usr/bin/time ]; then
    echo "bench/export.sh needs GNU time: apt-get install -y time" >&2
    exit 1
fi
cargo build --release -q -p stoplist-export --example bench_export
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_export"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

run() { # FORMAT ROWS
    /usr/bin/time -v "$BIN" "$1" "$2" "$OUT/export.$1" 2>"$OUT/time.txt" >"$OUT/line.txt"
    rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/time.txt")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$OUT/time.txt")
    printf '%s wall=%s peak_rss=%s MB\n' "$(cat "$OUT/line.txt")" "$wall" "$((rss_kb / 1024))"
    rm -f "$OUT/export.$1"
}

run csv "$DELIMITED_ROWS"
run tsv "$DELIMITED_ROWS"
run xlsx "$XLSX_ROWS"
for rows in $PDF_ROWS; do run pdf "$rows"; done
