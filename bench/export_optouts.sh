#!/usr/bin/env bash
# The opt-out list export end to end through the API (SPEC 3.8: "a million-row CSV export does
# not hold the rows in memory"): N opt-outs seeded with examples/bench_seed, the release server
# on loopback, GET /api/v1/optouts/export?format=csv then xlsx with curl; for each, the wall
# time, the file size, the rows, and the server's peak RSS (VmHWM) before and after.
# SQLite first, PostgreSQL too when BENCH_PG_URL is set (an admin URL such as
# postgres://postgres@127.0.0.1:5432/postgres: a fresh database is created).
# Usage: bench/export_optouts.sh            (N=1000000 by default; figures on standard output)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
PORT=${PORT:-18090}
DATA=bench/data
mkdir -p "$DATA"
cargo build --release -q --features stoplist/bench --bin stoplist --example bench_seed
BIN="${CARGO_TARGET_DIR:-target}/release"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ)"

SPID=
stop_server() { if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; SPID=; fi; }
trap stop_server EXIT

peak_kb() { awk '/^VmHWM/ {print $2}' "/proc/$SPID/status"; }

bench_backend() { # name url
  local name=$1 url=$2 key
  key=$("$BIN/examples/bench_seed" "$url" "$N" | tail -1)
  "$BIN/stoplist" --database "$url" serve --listen "127.0.0.1:$PORT" >/dev/null 2>"$DATA/export_serve.log" &
  SPID=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  # A first small request so that the baseline includes the API's own start-up (key cache…).
  curl -sf -o /dev/null -H "Authorization: Bearer $key" "127.0.0.1:$PORT/api/v1/optouts?limit=1"
  echo "$name: $N opt-outs; server peak RSS before exports: $(( $(peak_kb) / 1024 )) MB"
  for fmt in csv xlsx; do
    local before out
    before=$(peak_kb)
    out=$(curl -sf -o "$DATA/optouts.$fmt" -w '%{time_total} %{size_download}' \
      -H "Authorization: Bearer $key" "127.0.0.1:$PORT/api/v1/optouts/export?format=$fmt")
    read -r secs bytes <<<"$out"
    local rows=
    if [ "$fmt" = csv ]; then rows="$(( $(wc -l <"$DATA/optouts.$fmt") - 1 )) rows, "; fi
    echo "$name $fmt: ${rows}$(( bytes / 1024 / 1024 )) MB in ${secs}s; server peak RSS $(( before / 1024 )) -> $(( $(peak_kb) / 1024 )) MB"
    rm -f "$DATA/optouts.$fmt"
  done
  echo "$name: temporary export files left behind: $(find "${TMPDIR:-/tmp}" -maxdepth 1 -type f -name 'stoplist-report-*' | wc -l)"
  stop_server
}

bench_backend sqlite "sqlite://$PWD/$DATA/export_optouts.db"
if [ -n "${BENCH_PG_URL:-}" ]; then
  db=stoplist_bench_export
  psql "$BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  bench_backend postgres "${BENCH_PG_URL%/*}/$db"
fi
