#!/usr/bin/env bash
# Campaign preview of an uploaded file of ROWS E.164 numbers (some repeated, a few invalid,
# ~10% opted out) against OPTOUTS opt-outs, against DuckDB anti-joining the same two files in
# the same run (issue 4: no slower than DuckDB, goal half of it). stoplist runs the real
# service path over its HTTP API (campaign created, file uploaded, preview computed) with a
# fresh SQLite database, and PostgreSQL when BENCH_PG_URL is set (an admin URL; a fresh
# database is created). Medians of RUNS; peak RSS per preview (VmHWM) and of the whole
# process (/usr/bin/time).
#   bench/preview.sh [ROWS] [OPTOUTS] [RUNS]     (defaults 10000000 1000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}; OPTOUTS=${2:-1000000}; RUNS=${3:-3}
DATA=${BENCH_DATA:-bench/data/preview-$ROWS}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
cargo build --release -q -p stoplist --features bench --example bench_preview
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/bench_preview
[ -f "$DATA/optouts.txt" ] || "$BIN" gen "$DATA" "$ROWS" "$OPTOUTS"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ); $ROWS rows, $OPTOUTS opt-outs; duckdb $(python3 -c 'import duckdb; print(duckdb.__version__)')"
median() { sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }

duck=()
for r in $(seq 1 "$RUNS"); do
  /usr/bin/time -f "%M" -o "$DATA/time.txt" python3 bench/duckdb_preview.py "$DATA" > "$DATA/duck.txt"
  read -r secs count < "$DATA/duck.txt"
  duck+=("$secs")
  echo "duckdb run $r: ${secs}s, $count recipients, peak $(( $(cat "$DATA/time.txt") / 1024 )) MiB"
done
duck_median=$(printf '%s\n' "${duck[@]}" | median)
echo "duckdb median: ${duck_median}s"

bench_backend() { # name url
  local name=$1 url=$2
  /usr/bin/time -f "%M" -o "$DATA/time.txt" "$BIN" run "$url" "$DATA" "$RUNS" | tee "$DATA/$name.txt" | sed "s/^/$name /"
  echo "$name process peak: $(( $(cat "$DATA/time.txt") / 1024 )) MiB"
  local warm
  warm=$(sed -n 's/^preview warm \([0-9.]*\) s.*/\1/p' "$DATA/$name.txt" | median)
  echo "$name warm preview median: ${warm}s; ratio to duckdb: $(python3 -c "print(f'{$warm / $duck_median:.2f}')")"
}

rm -f "$DATA"/bench.db*
bench_backend sqlite "sqlite://$PWD/$DATA/bench.db"
rm -f "$DATA"/bench.db*
if [ -n "${BENCH_PG_URL:-}" ]; then
  db=stoplist_bench_preview
  psql "$BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  bench_backend postgres "${BENCH_PG_URL%/*}/$db"
  psql "$BENCH_PG_URL" -qc "DROP DATABASE $db" >/dev/null
fi
