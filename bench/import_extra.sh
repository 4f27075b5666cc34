#!/usr/bin/env bash
# Contact imports beyond the main benchmark (bench/import.sh), on SQLite, one run each:
#  - memory: a BIG-row CSV (default 10,000,000) into an empty group, peak RSS from /usr/bin/time;
#  - XLSX: an XLSX-row workbook (default 100,000) into an empty group, end to end.
#   bench/import_extra.sh [BIG] [XLSX]     (defaults 10000000 100000; 0 skips one)
# STOPLIST_BIN=path runs that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=${1:-10000000}
XLSX=${2:-100000}
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
if [ -n "${STOPLIST_BIN:-}" ]; then
  BIN=$STOPLIST_BIN
else
  cargo build --release -q --bin stoplist
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/stoplist
fi
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ); $BIN"

one() { # label DATA-dir file
  local label=$1 data=$2 file=$3 db
  rm -f "$data"/one.db*
  db="sqlite://$PWD/$data/one.db"
  "$BIN" --database "$db" account create default >/dev/null
  "$BIN" --database "$db" optouts upload "$data/optouts.txt" >/dev/null
  /usr/bin/time -f "%e %M" -o "$data/time.txt" "$BIN" --database "$db" import "$file" --group Bench >"$data/out.txt" 2>/dev/null
  read -r secs kib < "$data/time.txt"
  echo "$label: ${secs}s, peak RSS $(( kib / 1024 )) MiB ($(du -h "$file" | cut -f1))"
  grep -E "rows read|imported|duplicates|invalid" "$data/out.txt" | sed "s/^/  /"
  rm -f "$data"/one.db*
}

if [ "$BIG" -gt 0 ]; then
  D=bench/data/import-$BIG
  [ -f "$D/contacts.csv" ] || python3 bench/gen_contacts.py "$BIG" "$D"
  one "CSV, $BIG rows" "$D" "$D/contacts.csv"
fi
if [ "$XLSX" -gt 0 ]; then
  python3 -c 'import openpyxl' 2>/dev/null || pip install -q openpyxl
  D=bench/data/import-xlsx-$XLSX
  [ -f "$D/contacts.xlsx" ] || python3 bench/gen_contacts.py "$XLSX" "$D" --xlsx
  one "XLSX, $XLSX rows" "$D" "$D/contacts.xlsx"
fi
