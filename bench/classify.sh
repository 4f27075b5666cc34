#!/usr/bin/env bash
# Reply classifier throughput on one core (SPEC 3.6; target: >= 1,000,000 texts/s).
# Usage: bench/classify.sh [ROUNDS]   (each round classifies every corpus text once)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-classify}"
cargo build --release -q -p stoplist-domain --example bench_classify
# One core: pin when taskset is available.
runner=()
if command -v taskset >/dev/null; then runner=(taskset -c 0); fi
"${runner[@]}" "$CARGO_TARGET_DIR/release/examples/bench_classify" "${1:-5000}"
