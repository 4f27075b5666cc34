#!/usr/bin/env bash
# The floor under the SQLite import: what SQLite itself (the sqlite3 shell, no stoplist code)
# takes to write the rows a 1,000,000-row import writes into the real schema and commit them,
# beside DuckDB's whole pipeline on the same file in the same run.
#
# The rows are DuckDB's output (valid, deduped, not opted out: exactly the contacts the import
# adds), copied into a plain table first, so that only the INSERT ... SELECT into `contacts`
# (its table and two indexes, foreign keys on, WAL, synchronous FULL, the import's 64 MiB
# cache) and the COMMIT are timed, in three orders: the file's, sorted in runs of 20,000 and
# 100,000 (what the import's batches give), and sorted whole. Then, sorted whole, into three
# smaller layouts than the real one, to show what any one-row-per-contact layout costs: a table
# with no index at all, one with only the group's unique (group, number) index, and that key as
# a WITHOUT ROWID primary key (one b-tree), also in SQLite's largest page size.
#   bench/import_floor.sh [ROWS] [RUNS]     (defaults 1000000 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
RUNS=${2:-3}
DATA=${BENCH_DATA:-bench/data/import-$ROWS}
command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb
[ -f "$DATA/contacts.csv" ] || python3 bench/gen_contacts.py "$ROWS" "$DATA"
median() { sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ); $ROWS rows; sqlite3 $(sqlite3 --version | cut -d' ' -f1)"

duck=()
for r in $(seq 1 "$RUNS"); do duck+=("$(python3 bench/duckdb_import.py "$DATA")"); done
echo "duckdb whole pipeline median: $(printf '%s\n' "${duck[@]}" | median)s"

base=$DATA/floor_base.db
rm -f "$base"*
{
  cat crates/stoplist-store/migrations/sqlite/*.sql
  cat <<'SQL'
INSERT INTO accounts (id, name, webhook_token, settings_json, ledger_head, created_at) VALUES (1, 'bench', 't', '{}', '', 0);
INSERT INTO contact_groups (id, account_id, name, name_key, created_at) VALUES (1, 1, 'Bench', 'bench', 0);
CREATE TABLE src (number TEXT, f TEXT, l TEXT, e TEXT);
.mode csv
SQL
  echo ".import --skip 1 $DATA/duckdb_out.csv src"
  echo "CREATE TABLE order_file AS SELECT * FROM src;"
  echo "CREATE TABLE order_runs_20000 AS SELECT * FROM src ORDER BY rowid / 20000, number;"
  echo "CREATE TABLE order_runs_100000 AS SELECT * FROM src ORDER BY rowid / 100000, number;"
  echo "CREATE TABLE order_sorted AS SELECT * FROM src ORDER BY number;"
} | sqlite3 "$base" >/dev/null

floor() { # label table source [DDL run first, untimed]
  local times=()
  for r in $(seq 1 "$RUNS"); do
    rm -f "$DATA"/floor.db*
    cp "$base" "$DATA/floor.db"
    [ -z "${4:-}" ] || sqlite3 "$DATA/floor.db" "$4" >/dev/null
    start=$(date +%s%N)
    sqlite3 "$DATA/floor.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;
PRAGMA cache_size = -65536;
BEGIN IMMEDIATE;
INSERT INTO $2 (account_id, group_id, number, first_name, last_name, email, created_at, updated_at)
  SELECT 1, 1, number, f, l, e, 0, 0 FROM $3;
COMMIT;
SQL
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    times+=("$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))")
  done
  echo "sqlite3 insert + commit, $1: median $(printf '%s\n' "${times[@]}" | median)s (runs: ${times[*]})"
}
for order in order_file order_runs_20000 order_runs_100000 order_sorted; do
  floor "$order" contacts "$order"
done
cols="account_id INTEGER NOT NULL, group_id INTEGER NOT NULL, number TEXT NOT NULL, first_name TEXT,
  last_name TEXT, email TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
floor "layout: no index at all, order_sorted" bare order_sorted "CREATE TABLE bare (id INTEGER PRIMARY KEY, $cols)"
floor "layout: only UNIQUE (group_id, number), order_sorted" keyed order_sorted \
  "CREATE TABLE keyed (id INTEGER PRIMARY KEY, $cols, UNIQUE (group_id, number))"
floor "layout: WITHOUT ROWID, PRIMARY KEY (group_id, number), order_sorted" clustered order_sorted \
  "CREATE TABLE clustered ($cols, PRIMARY KEY (group_id, number)) WITHOUT ROWID"
floor "layout: the same WITHOUT ROWID table in 64 KiB pages, order_sorted" clustered order_sorted \
  "PRAGMA page_size = 65536; VACUUM; CREATE TABLE clustered ($cols, PRIMARY KEY (group_id, number)) WITHOUT ROWID"
rm -f "$DATA"/floor.db* "$base"*
