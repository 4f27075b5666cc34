#!/usr/bin/env bash
# The Incoming report export end to end through the CLI (SPEC 3.8; issue 5's targets: a
# 1,000,000-row CSV in under 2 s with peak memory under 100 MB, a 10,000-row PDF in under 5 s).
# A fresh SQLite store (made by `stoplist migrate`, account `bench`) is seeded with N replies by
# one SQL statement through the sqlite3 CLI (seconds, where a webhook each would take minutes):
# typical texts of every class, a third matched to a campaign, opt-outs with their actions,
# 200,000 distinct senders. Then `stoplist report incoming --format csv -o FILE` runs under
# /usr/bin/time RUNS times: the median wall time and peak RSS are printed, with the rows and the
# file size. The same for a PDF of a second store with PDF_N replies. Needs sqlite3.
# Usage: bench/export_incoming.sh     (N=1000000 PDF_N=10000 RUNS=3; figures on standard output)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
PDF_N=${PDF_N:-10000}
RUNS=${RUNS:-3}
DATA=bench/data
mkdir -p "$DATA"
cargo build --release -q --bin stoplist
BIN="${CARGO_TARGET_DIR:-target}/release"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# N replies of account `bench`, one a second up to now, newest last.
seed() { # db n
  local start=$SECONDS
  sqlite3 "$1" <<SQL
INSERT INTO campaigns (account_id, name, sender_id, message, numbers_json, status, actor_kind, actor_label, created_at)
SELECT id, 'Bench campaign', 'ACME', 'Sale on now. Reply STOP to opt out', '[]', 'finished', 'system', 'bench', 0
FROM accounts WHERE name = 'bench';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
INSERT INTO replies (account_id, provider, provider_message_id, from_number, to_number, body,
    class, tier, matched, matched_campaign_id, actions_json, received_at, created_at)
SELECT (SELECT id FROM accounts WHERE name = 'bench'), 'generic', 'bench-' || i,
    '+614' || (10000000 + i % 200000), '+61400000000',
    CASE i % 8 WHEN 0 THEN 'STOP' WHEN 1 THEN 'Please stop texting me, I never signed up for this'
        WHEN 2 THEN 'What time do you open on Saturday?' WHEN 3 THEN 'HELP'
        WHEN 4 THEN 'Thanks! See you at the sale' WHEN 5 THEN 'START'
        WHEN 6 THEN 'stop by the store at 5' ELSE 'STOP what?' END,
    CASE i % 8 WHEN 0 THEN 'opt_out' WHEN 1 THEN 'opt_out' WHEN 3 THEN 'help'
        WHEN 5 THEN 'opt_in' WHEN 7 THEN 'unclear' ELSE 'other' END,
    CASE i % 8 WHEN 0 THEN 'keyword' WHEN 1 THEN 'phrase' WHEN 3 THEN 'keyword'
        WHEN 5 THEN 'keyword' WHEN 6 THEN 'not_a_request' ELSE 'fallback' END,
    CASE i % 8 WHEN 0 THEN 'STOP' WHEN 3 THEN 'HELP' WHEN 5 THEN 'START' END,
    CASE WHEN i % 3 = 0 THEN (SELECT max(id) FROM campaigns) END,
    CASE i % 8 WHEN 0 THEN '["opted_out","suppressed 1 queued messages","confirmation queued"]'
        WHEN 1 THEN '["already_opted_out"]' WHEN 3 THEN '["help queued"]'
        WHEN 5 THEN '["opted_in","confirmation queued"]' ELSE '[]' END,
    (strftime('%s', 'now') - $2 + i) * 1000, (strftime('%s', 'now') - $2 + i) * 1000
FROM n;
SQL
  echo "seeded $2 replies in $(( SECONDS - start ))s"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_format() { # rows format
  local n=$1 fmt=$2 db="$DATA/incoming_$1.db" out="$DATA/incoming.$2"
  if [ ! -f "$db" ]; then
    "$BIN/stoplist" --database "sqlite://$PWD/$db" account create bench >/dev/null
    seed "$db" "$n"
  fi
  local walls=() rss=() line
  for _ in $(seq 1 "$RUNS"); do
    rm -f "$out"
    line=$(/usr/bin/time -f '%e %M' "$BIN/stoplist" --database "sqlite://$PWD/$db" \
      report incoming --account bench --format "$fmt" -o "$out" 2>&1 >"$DATA/incoming.stdout" | tail -1)
    walls+=("${line% *}")
    rss+=("${line#* }")
  done
  local wall kb
  wall=$(printf '%s\n' "${walls[@]}" | median)
  kb=$(printf '%s\n' "${rss[@]}" | median)
  echo "$fmt, $n replies: $(cat "$DATA/incoming.stdout"); $(( $(stat -c %s "$out") / 1024 / 1024 )) MB;" \
    "median wall ${wall}s (runs: ${walls[*]}), median peak RSS $(( kb / 1024 )) MB"
  rm -f "$out"
}

bench_format "$N" csv
bench_format "$PDF_N" pdf
if [ -n "${WITH_XLSX:-}" ]; then bench_format "$N" xlsx; fi
