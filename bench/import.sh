#!/usr/bin/env bash
# Contact import end to end (parse, normalize, dedupe, skip opted-out, commit, report) against
# DuckDB running the equivalent pipeline on the same file in the same run; then the re-import
# (all updates). SQLite, and PostgreSQL when BENCH_PG_URL is set (an admin URL; a fresh
# database is created). Peak memory from /usr/bin/time. The opt-out upload (ROWS/10 numbers)
# that prepares each run is timed too.
#   bench/import.sh [ROWS] [RUNS]     (defaults 1000000 3)
# STOPLIST_BIN=path runs that binary instead of building one (to compare two builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
RUNS=${2:-3}
DATA=${BENCH_DATA:-bench/data/import-$ROWS}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
if [ -n "${STOPLIST_BIN:-}" ]; then
  BIN=$STOPLIST_BIN
else
  cargo build --release -q --bin stoplist
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/stoplist
fi
[ -f "$DATA/contacts.csv" ] || python3 bench/gen_contacts.py "$ROWS" "$DATA"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ); $ROWS rows; duckdb $(python3 -c 'import duckdb; print(duckdb.__version__)'); $BIN"
median() { sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }

timed() { # label db args... -> prints seconds and peak MiB, returns seconds on fd 3
  local label=$1 db=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$DATA/time.txt" "$BIN" --database "$db" "$@" >"$DATA/out.txt" 2>/dev/null
  read -r secs kib < "$DATA/time.txt"
  echo "$label: ${secs}s, peak $(( kib / 1024 )) MiB" >&2
  echo "$secs"
}

bench_backend() { # name db-url-maker
  local name=$1 first=() again=() upload=()
  for r in $(seq 1 "$RUNS"); do
    local db
    db=$($2 "$r")
    "$BIN" --database "$db" account create default >/dev/null
    upload+=("$(timed "$name run $r opt-out upload" "$db" optouts upload "$DATA/optouts.txt")")
    first+=("$(timed "$name run $r import" "$db" import "$DATA/contacts.csv" --group Bench)")
    again+=("$(timed "$name run $r re-import" "$db" import "$DATA/contacts.csv" --group Bench)")
  done
  grep -E "rows read|imported|updated|duplicates|invalid|skipped: opted out " "$DATA/out.txt" | sed "s/^/$name last report: /"
  echo "$name import median: $(printf '%s\n' "${first[@]}" | median)s; re-import median: $(printf '%s\n' "${again[@]}" | median)s; opt-out upload median: $(printf '%s\n' "${upload[@]}" | median)s"
}

# The fair baseline keeps each number's first row in file order, as the import does; the
# DISTINCT ON one (an arbitrary row of each number) is printed beside it.
duck=() any=()
for r in $(seq 1 "$RUNS"); do
  duck+=("$(python3 bench/duckdb_import.py "$DATA" first)")
  any+=("$(python3 bench/duckdb_import.py "$DATA" any)")
  echo "duckdb run $r: first row in file order ${duck[-1]}s, DISTINCT ON ${any[-1]}s"
done
echo "duckdb median: $(printf '%s\n' "${duck[@]}" | median)s keeping the first row ($(( $(wc -l < "$DATA/duckdb_out.csv") - 1 )) rows out); DISTINCT ON $(printf '%s\n' "${any[@]}" | median)s"

sqlite_db() { rm -f "$DATA"/bench.db*; echo "sqlite://$PWD/$DATA/bench.db"; }
bench_backend sqlite sqlite_db
if [ -n "${BENCH_PG_URL:-}" ]; then
  pg_db() {
    psql "$BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS stoplist_bench_import" -c "CREATE DATABASE stoplist_bench_import" >/dev/null
    echo "${BENCH_PG_URL%/*}/stoplist_bench_import"
  }
  bench_backend postgres pg_db
fi
