#!/usr/bin/env bash
# Login with a huge login name (issue 15): N posts of a 1 MB login name to /login, each timed
# with curl, then the server's resident memory before, right after and 30 s after; the same
# for N posts of a normal wrong login for comparison. A release build on SQLite.
# Usage: bench/login_flood.sh            (N=${N:-450}; figures go to standard output)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-450}
DATA=bench/data
mkdir -p "$DATA"
cargo build --release -q --bin stoplist
BIN=${CARGO_TARGET_DIR:-target}/release
PORT=18090
if curl -s -o /dev/null "localhost:$PORT/"; then
  echo "port $PORT is in use: stop that server first" >&2
  exit 1
fi
rm -f "$DATA/login.db"*
# Stops only the server this script started, by PID.
$BIN/stoplist --database "sqlite://$PWD/$DATA/login.db" serve --listen 127.0.0.1:$PORT >/dev/null 2>"$DATA/login.log" &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$PORT/healthz >/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ), code $(git rev-parse --short HEAD)"
rss() { awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$SPID/status"; }
python3 -c "import sys; sys.stdout.write('login=' + 'x' * 1048576 + '&password=wrong&csrf_token=t')" > "$DATA/huge_login.txt"
printf 'login=nobody&password=wrong&csrf_token=t' > "$DATA/small_login.txt"
flood() { # file -> prints "status-counts median p99 (ms)"
  for _ in $(seq 1 "$N"); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Expect:' -H 'content-type: application/x-www-form-urlencoded' \
      --data-binary "@$1" "http://127.0.0.1:$PORT/login"
  done | sort -k2 -g | awk '{c[$1]++; t[NR]=$2} END {s=""; for (k in c) s=s k "x" c[k] " "; printf "%s median %.2f ms, p99 %.2f ms\n", s, 1000*t[int((NR+1)/2)], 1000*t[int(NR*0.99)]}'
}
echo "resident memory at start: $(rss)"
echo "1 MB login name, $N posts: $(flood "$DATA/huge_login.txt")"
echo "resident memory after: $(rss)"
echo "normal login name, $N posts: $(flood "$DATA/small_login.txt")"
sleep 30
echo "resident memory 30 s later: $(rss)"
