#!/usr/bin/env bash
# The fault simulation's long soak (crates/stoplist/tests/simulation.rs): STEPS steps (default
# 100,000) against one SQLite instance and, when STOPLIST_TEST_PG_URL is set, two instances on
# PostgreSQL, in a release build, with a random seed that it prints (or the SEED given).
# Prints the elapsed time and the outcome; a failure report ends with the command that replays
# the seed. Extra environment (STOPLIST_SIM_WITHOUT, …) is passed on.
#
# Usage: bench/soak.sh [STEPS] [SEED]
#
# It stops only what it started, by PID: the test runner it launched, and the servers the
# simulation launched (the simulation appends each server's pid to STOPLIST_SIM_PID_FILE; a pid
# is killed only if it is still a `stoplist … serve` process).
set -uo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-100000}
SEED=${2:-0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')}
TARGET=${CARGO_TARGET_DIR:-target}
log="${TMPDIR:-/tmp}/stoplist-soak-$SEED.log"
pid_file=$(mktemp "${TMPDIR:-/tmp}/stoplist-soak-pids.XXXXXX")
runner=

cleanup() {
  if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
    kill -TERM "$runner" 2>/dev/null
    wait "$runner" 2>/dev/null
  fi
  while read -r pid; do
    [ -n "$pid" ] || continue
    [ -r "/proc/$pid/cmdline" ] || continue
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
    case "$cmd" in *stoplist*serve*) kill -KILL "$pid" 2>/dev/null ;; esac
  done <"$pid_file"
  rm -f "$pid_file"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

if cargo nextest --version >/dev/null 2>&1; then
  build=(cargo nextest run --release -p stoplist --test it --no-run)
  run=(cargo nextest run --release -p stoplist --test it --no-capture --no-fail-fast -E 'test(/^simulation::/)')
else
  build=(cargo test --release -p stoplist --test it --no-run)
  run=(cargo test --release -p stoplist --test it -- --nocapture --test-threads=1 simulation::)
fi

echo "== building the simulation (release, target $TARGET)"
"${build[@]}" >/dev/null 2>&1 || { echo "build failed: ${build[*]}"; exit 2; }

echo "== soak: $STEPS steps a backend, seed $SEED$([ -n "${STOPLIST_TEST_PG_URL:-}" ] || echo ' (SQLite only: STOPLIST_TEST_PG_URL is not set)')"
echo "   log: $log"
start=$(date +%s)
STOPLIST_SIM_SEED=$SEED STOPLIST_SIM_STEPS=$STEPS STOPLIST_SIM_PID_FILE=$pid_file \
  "${run[@]}" >"$log" 2>&1 &
runner=$!
wait "$runner"
status=$?
runner=
elapsed=$(( $(date +%s) - start ))

# Each backend's summary or failure: the check, where, what, and the command that replays it.
awk '/^simulation (sqlite|postgres):/ || /^reproduce:/ { print; next }
     /=== SIMULATION FAILED/ { n = 3 }
     n > 0 { print; n-- }' "$log"
printf 'elapsed: %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
if [ "$status" -eq 0 ]; then
  echo "outcome: PASSED ($STEPS steps a backend, seed $SEED)"
else
  echo "outcome: FAILED (seed $SEED; the report is in $log)"
fi
exit "$status"
