#!/usr/bin/env bash
# Runs every test/integration/test_*.sh against the binaries in BUILD (default build).
# Each test gets its own scratch directory; a failing test prints its output.
# A test that cannot run here exits 77 after "SKIP: why" (lib.sh's skip); a passing
# test may have skipped single checks ("SKIP what: why", lib.sh's skip_check). Each
# skip is printed as "SKIP test: why" and counted. Ends with the line
# "integration: N passed, N failed, N skipped".
#
# Tests run TE_TEST_JOBS at a time (default 2): every test starts its daemons on
# ephemeral loopback ports in its own directory, and most of a test's time is spent
# waiting (heartbeats, leases, checkpoints), so two at once nearly halve the wall time
# even on two cores. A test whose header holds the line "# te-test: alone" runs with
# no other test beside it. Results are printed as tests finish; ONLY=substring runs the
# matching tests. A test still running after TE_TEST_TIMEOUT seconds (300) fails, and
# so does one that leaves a process running that names its directory.
set -u
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
JOBS=${TE_TEST_JOBS:-2}
TIMEOUT=${TE_TEST_TIMEOUT:-300} # seconds a test may take before it counts as hung
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: TE_TEST_TIMEOUT must be a number of seconds, not '$TIMEOUT'" >&2; exit 2; }
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: TE_TEST_JOBS must be a positive integer, not '$JOBS'" >&2; exit 2; }
cd "$ROOT"
RES=$(mktemp -d /tmp/te-it-results.XXXXXX)
trap 'rm -rf "$RES"' EXIT

# run_test FILE: runs one test; prints its result block under a lock and writes
# "pass|fail|skip" plus its skip count to $RES/<name>.
run_test() {
  local t=$1 name work start rc out
  name=$(basename "$t" .sh)
  work=$(mktemp -d "/tmp/te-it-$name.XXXXXX")
  out="$RES/$name.out"
  start=$(date +%s.%N)
  rc=0
  BUILD="$BUILD" WORK="$work" ROOT="$ROOT" timeout "$TIMEOUT" bash "$t" </dev/null >"$work/output.txt" 2>&1 || rc=$?
  # a test stops what it started: a process still naming its directory (2 s after the
  # test ended, time to finish exiting) fails it, and is killed
  local left i
  for i in $(seq 1 20); do
    left=$(pgrep -d, -f -- "$work" 2>/dev/null) || break
    sleep 0.1
  done
  if [ -n "$left" ]; then
    { echo "FAIL: processes left running after the test:"; ps -o pid=,args= -p "$left" | cut -c1-300; } >>"$work/output.txt"
    kill -9 ${left//,/ } 2>/dev/null
    case $rc in 0 | 77) rc=1 ;; esac
  fi
  local skips=0
  if [ "$rc" = 0 ]; then
    printf 'PASS %-32s %6.2fs\n' "$name" "$(awk "BEGIN{print $(date +%s.%N) - $start}")" >"$out"
    while IFS= read -r line; do
      printf 'SKIP %s/%s\n' "$name" "${line#SKIP }" >>"$out"
      skips=$((skips + 1))
    done < <(grep -a '^SKIP [^:]*: ' "$work/output.txt")
    echo "pass $skips" >"$RES/$name"
    rm -rf "$work"
  elif [ "$rc" = 77 ]; then
    local why
    why=$(grep -a -m1 '^SKIP: ' "$work/output.txt" | sed 's/^SKIP: //')
    printf 'SKIP %s: %s\n' "$name" "${why:-(no reason given)}" >"$out"
    echo "skip 1" >"$RES/$name"
    rm -rf "$work"
  else
    {
      printf 'FAIL %-32s (exit %d)\n' "$name" "$rc"
      sed 's/^/    | /' "$work/output.txt" | tail -n 60
      for l in "$work"/*.log; do [ -f "$l" ] && { echo "    -- $l"; tail -n 30 "$l" | sed 's/^/    | /'; }; done
    } >"$out"
    echo "fail 0" >"$RES/$name"
  fi
  flock "$RES/.print" cat "$out"
}

together=(); alone=()
for t in "$HERE"/test_*.sh; do
  name=$(basename "$t" .sh)
  [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]] && continue
  if head -n 30 "$t" | grep -q '^# te-test: alone$'; then alone+=("$t"); else together+=("$t"); fi
done

running=0
for t in "${together[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  run_test "$t" &
  running=$((running + 1))
done
wait
for t in "${alone[@]}"; do run_test "$t"; done

pass=0; failn=0; skipn=0; failed=()
for t in "${together[@]}" "${alone[@]}"; do
  name=$(basename "$t" .sh)
  if [ ! -f "$RES/$name" ]; then # the runner itself was killed
    failn=$((failn + 1)); failed+=("$name"); continue
  fi
  read -r kind skips <"$RES/$name"
  case $kind in
    pass) pass=$((pass + 1)); skipn=$((skipn + skips)) ;;
    skip) skipn=$((skipn + 1)) ;;
    *) failn=$((failn + 1)); failed+=("$name") ;;
  esac
done
[ "$failn" -gt 0 ] && echo "failed: ${failed[*]}"
echo "integration: $pass passed, $failn failed, $skipn skipped"
[ "$failn" -eq 0 ]
