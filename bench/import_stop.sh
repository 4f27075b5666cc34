#!/usr/bin/env bash
# STOP replies while a big import runs (issue 14): a release server on a fresh SQLite file (or
# PostgreSQL with BENCH_PG_URL, an admin URL; a fresh database is created), a contact import of
# ROWS rows started through the API, and a STOP reply from a new number through the generic
# webhook every 10 ms until the import has finished. Prints how many replies were sent, how
# many were acknowledged (2xx), their latency (median, p99, max), how many of the numbers the
# check API then answers opted out, and the import's own figures; and, as the baseline in the
# same run, 300 replies at the same pace before the import starts. Replies during the upload
# and the reading count too: every reply from the import's start to its end is in the figures.
#   bench/import_stop.sh [ROWS]      (default 10000000)
# Stops only the server it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
DATA=${BENCH_DATA:-bench/data/import-$ROWS}
PORT=${PORT:-18091}
cargo build --release -q --bin stoplist
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/stoplist
[ -f "$DATA/contacts.csv" ] || python3 bench/gen_contacts.py "$ROWS" "$DATA"
if curl -s -o /dev/null "localhost:$PORT/"; then
  echo "port $PORT is in use: stop that server first" >&2
  exit 1
fi
if [ -n "${BENCH_PG_URL:-}" ]; then
  psql "$BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS stoplist_bench_stop" -c "CREATE DATABASE stoplist_bench_stop" >/dev/null
  DB="${BENCH_PG_URL%/*}/stoplist_bench_stop"
else
  rm -f "$DATA"/stop.db*
  DB="sqlite://$PWD/$DATA/stop.db"
fi
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ), code $(git rev-parse --short HEAD); $ROWS rows; ${DB%%:*}"
"$BIN" --database "$DB" account create default >/dev/null
KEY=$("$BIN" --database "$DB" api-key create --name bench | tail -1)
printf 'max_upload_bytes = %d\n' $((2 * 1024 * 1024 * 1024)) > "$DATA/stop.toml"
"$BIN" --config "$DATA/stop.toml" --database "$DB" serve --listen 127.0.0.1:$PORT >/dev/null 2>"$DATA/stop.log" &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf localhost:$PORT/healthz >/dev/null && break; sleep 0.1; done
/usr/bin/env python3 - "$PORT" "$KEY" "$DATA/contacts.csv" "$SPID" <<'EOF'
import http.client, json, sys, threading, time, urllib.request
port, key, path, spid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
base = f"http://127.0.0.1:{port}"
H = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
def api(method, url, body=None, headers=H):
    req = urllib.request.Request(base + url, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"null")
token = api("GET", "/api/v1/settings")["webhooks"]["token"]
group = api("POST", "/api/v1/groups", json.dumps({"name": "Bench"}).encode())["id"]
results, lock = [], threading.Lock()
def stop(i):
    number = f"+6149{i:07d}"
    body = json.dumps({"id": f"bench-{i}", "from": number, "to": "+61400000000", "text": "STOP"})
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", f"/webhooks/generic/{token}", body, {"content-type": "application/json"})
        status = c.getresponse().status
        c.close()
    except Exception as e:
        status = repr(e)
    with lock:
        results.append((number, status, time.perf_counter() - t0))
done = threading.Event()
job = {}
def importer():
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        data = f.read()
    j = api("POST", f"/api/v1/groups/{group}/imports?file_name=contacts.csv",
            data, {"Authorization": f"Bearer {key}", "content-type": "text/csv"})
    while j["status"] == "running":
        time.sleep(0.5)
        j = api("GET", f"/api/v1/imports/{j['id']}")
    job.update(j, seconds=time.perf_counter() - t0)
    done.set()
def rss_peak():
    with open(f"/proc/{spid}/status") as f:
        return next(int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM"))
def summary(rs):
    lat = sorted(r[2] for r in rs)
    ok = sum(1 for r in rs if isinstance(r[1], int) and 200 <= r[1] < 300)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    return (f"{len(rs)} sent, {ok} acknowledged, {len(rs) - ok} not; "
            f"latency median {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]*1000:.1f} ms")
# The baseline in the same run: 300 replies, one every 10 ms, with no import running.
i, threads, next_at = 0, [], time.perf_counter()
for _ in range(300):
    i += 1
    th = threading.Thread(target=stop, args=(i,)); th.start(); threads.append(th)
    next_at += 0.010
    time.sleep(max(0, next_at - time.perf_counter()))
for th in threads: th.join()
idle, results[:] = list(results), []
print(f"STOP replies with no import running: {summary(idle)}")
t = threading.Thread(target=importer); t.start()
threads, next_at = [], time.perf_counter()
while not done.is_set():
    i += 1
    th = threading.Thread(target=stop, args=(i,)); th.start(); threads.append(th)
    next_at += 0.010
    time.sleep(max(0, next_at - time.perf_counter()))
for th in threads: th.join()
t.join()
numbers = [r[0] for r in idle + results]
opted = 0
for k in range(0, len(numbers), 10000):
    ans = api("POST", "/api/v1/optouts/check", json.dumps({"numbers": numbers[k:k+10000]}).encode())
    opted += sum(1 for a in ans["results"] if a.get("opted_out"))
print(f"import: {job.get('status')} in {job.get('seconds', 0):.1f} s; counts {json.dumps(job.get('counts'))}")
print(f"STOP replies while the import ran (upload included): {summary(results)}; "
      f"{opted} of {len(numbers)} numbers that replied answered opted out afterwards")
print(f"server peak resident memory: {rss_peak()} MiB")
EOF
grep -E "import applied" "$DATA/stop.log" | tail -1 | sed 's/^/server log: /' || true
