#!/usr/bin/env bash
# Runs the web UI's browser tests (every *.test.mjs here): Debian's Chromium driven by
# playwright-core (never a downloaded browser), against a real stoplist server on a free port with a fresh SQLite
# database and the demo data. Screenshots land in $SCREENSHOT_DIR (default
# target/ui-screenshots; not committed).
#
#   tests/browser/run.sh                 # builds the release binary first
#   STOPLIST_BIN=target/debug/stoplist tests/browser/run.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (about a minute)…"
  apt-get update
  apt-get install -y chromium chromium-driver
fi

cd "$here"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi

bin="${STOPLIST_BIN:-}"
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --release --bin stoplist)
  bin="$root/target/release/stoplist"
fi
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

tmp="$(mktemp -d)"
out="$tmp/server.out"
# The pages' tests point the notification endpoint at loopback, so private addresses are
# allowed for this server (the refusal itself is tested in tests/replies.rs and ui_replies.rs).
STOPLIST_ALLOW_PRIVATE_URLS=true \
  "$bin" --database "sqlite://$tmp/ui.db" serve --listen 127.0.0.1:0 --demo >"$out" 2>"$tmp/server.err" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The server prints its address, then (first start) the administrator's password.
for _ in $(seq 1 600); do
  grep -q 'password: ' "$out" && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "the server stopped before it was ready:" >&2
    cat "$out" "$tmp/server.err" >&2
    exit 1
  fi
  sleep 0.1
done
url="$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$out" | head -n1)"
password="$(sed -n 's/.*password: \([^ ]*\).*/\1/p' "$out" | head -n1)"
if [ -z "$url" ] || [ -z "$password" ]; then
  echo "could not read the server's address and password from its output:" >&2
  cat "$out" >&2
  exit 1
fi

export STOPLIST_URL="${url%/}"
export STOPLIST_LOGIN=admin
export STOPLIST_PASSWORD="$password"
export SCREENSHOT_DIR="${SCREENSHOT_DIR:-$root/target/ui-screenshots}"
mkdir -p "$SCREENSHOT_DIR"

node --test
