#!/usr/bin/env bash
# Dispatch (campaign messages to the fake provider, before-dispatch check on) and inbound
# webhook throughput (replies durable before their 2xx), on SQLite and, when BENCH_PG_URL is
# set, PostgreSQL. Usage: bench/dispatch.sh [MESSAGES] [REPLIES] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-20000}; REPLIES=${2:-5000}; CLIENTS=${3:-64}
cargo build --release -p stoplist --features bench --example bench_dispatch >/dev/null
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_dispatch
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
echo "== SQLite"; "$BIN" "sqlite://$dir/bench.db" "$MESSAGES" "$REPLIES" "$CLIENTS"
if [ -n "${BENCH_PG_URL:-}" ]; then
  db="stoplist_bench_$$"
  psql "$BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  echo "== PostgreSQL"; "$BIN" "${BENCH_PG_URL%/*}/$db" "$MESSAGES" "$REPLIES" "$CLIENTS"
  psql "$BENCH_PG_URL" -qc "DROP DATABASE $db"
fi
