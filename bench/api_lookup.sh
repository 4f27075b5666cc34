#!/usr/bin/env bash
# GET /api/v1/optouts/{number} with 1,000,000 opt-outs stored, random numbers, against a
# trivial axum handler measured the same way in the same run (wrk -t2 -c64 -d10s), alternating
# 3 rounds; then the bulk check. SQLite first, PostgreSQL when BENCH_PG_URL is set (an admin
# URL such as postgres://postgres@127.0.0.1:5432/postgres: a fresh database is created).
# Usage: bench/api_lookup.sh            (figures go to standard output)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N=${N:-1000000}
DATA=bench/data
mkdir -p "$DATA"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q --features stoplist/bench --bin stoplist --example bench_seed --example trivial_axum --example bench_check
BIN=${CARGO_TARGET_DIR:-target}/release
# Stops only the servers this script started, by PID.
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for port in 18080 18081; do
  if curl -s -o /dev/null "localhost:$port/"; then
    echo "port $port is in use (a server left over from an earlier run?): stop it first" >&2
    exit 1
  fi
done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ)"

cat > "$DATA/lookup.lua" <<'LUA'
-- random valid AU mobiles (+614 then 0-3 or 6 then 7 digits): about 1 in 50 is opted out
math.randomseed(os.time())
local leads = {0, 1, 2, 3, 6}
request = function()
  local n = string.format("+614%d%07d", leads[math.random(1, 5)], math.random(0, 9999999))
  return wrk.format("GET", "/api/v1/optouts/" .. n, { ["Authorization"] = "Bearer " .. os.getenv("KEY") })
end
LUA

run_wrk() { # url -> prints "rps p99"
  KEY="$KEY" wrk -t2 -c64 -d10s --latency -s "$DATA/lookup.lua" "$1" 2>&1 |
    awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {print rps, p99}'
}

bench_backend() { # name url
  local name=$1 url=$2
  KEY=$($BIN/examples/bench_seed "$url" "$N" | tail -1)
  export KEY
  $BIN/stoplist --database "$url" serve --listen 127.0.0.1:18080 >/dev/null 2>"$DATA/serve.log" &
  local spid=$!
  $BIN/examples/trivial_axum 127.0.0.1:18081 &
  local tpid=$!
  PIDS+=("$spid" "$tpid")
  for _ in $(seq 1 100); do curl -sf localhost:18080/healthz >/dev/null && curl -sf localhost:18081/api/v1/optouts/x >/dev/null && break; sleep 0.1; done
  # Warm up: wait until the opt-out index is loaded (readiness says so).
  for _ in $(seq 1 300); do curl -sf localhost:18080/readyz >/dev/null && break; sleep 0.1; done
  curl -sf -H "Authorization: Bearer $KEY" localhost:18080/api/v1/optouts/+61412345678 >/dev/null
  local ours=() base=()
  for r in $(seq 1 "$ROUNDS"); do
    read -r rps p99 < <(run_wrk http://127.0.0.1:18081)
    base+=("$rps"); echo "$name round $r trivial axum: $rps req/s, p99 $p99"
    read -r rps p99 < <(run_wrk http://127.0.0.1:18080)
    ours+=("$rps"); echo "$name round $r stoplist:     $rps req/s, p99 $p99"
  done
  local mo mb
  mo=$(printf '%s\n' "${ours[@]}" | sort -g | sed -n "$(( (ROUNDS + 1) / 2 ))p")
  mb=$(printf '%s\n' "${base[@]}" | sort -g | sed -n "$(( (ROUNDS + 1) / 2 ))p")
  echo "$name median: stoplist $mo req/s vs trivial $mb req/s = $(awk -v a="$mo" -v b="$mb" 'BEGIN {printf "%.0f%%", 100*a/b}')"
  kill "$tpid" 2>/dev/null || true
  $BIN/examples/bench_check http://127.0.0.1:18080 "$KEY" 1000000 5 | sed "s/^/$name /"
  kill "$spid" 2>/dev/null || true
  wait "$spid" "$tpid" 2>/dev/null || true
}

bench_backend sqlite "sqlite://$PWD/$DATA/lookup.db"
if [ -n "${BENCH_PG_URL:-}" ]; then
  db=stoplist_bench_lookup
  psql "$BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  bench_backend postgres "${BENCH_PG_URL%/*}/$db"
fi
