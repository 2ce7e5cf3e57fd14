#!/usr/bin/env bash
# Runs every test/integration/test_*.sh against the binaries in BUILD (default build).
# Each test gets its own scratch directory; a failing test prints its output.
# Ends with the line "integration: N passed, N failed".
set -u
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
pass=0; failn=0; failed=()
for t in "$HERE"/test_*.sh; do
  name=$(basename "$t" .sh)
  [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]] && continue
  work=$(mktemp -d "/tmp/te-it-$name.XXXXXX")
  start=$(date +%s.%N)
  if BUILD="$BUILD" WORK="$work" ROOT="$ROOT" timeout 300 bash "$t" >"$work/output.txt" 2>&1; then
    printf 'PASS %-32s %6.2fs\n' "$name" "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
    pass=$((pass + 1))
    rm -rf "$work"
  else
    rc=$?
    printf 'FAIL %-32s (exit %d)\n' "$name" "$rc"
    sed 's/^/    | /' "$work/output.txt" | tail -n 60
    for l in "$work"/*.log; do [ -f "$l" ] && { echo "    -- $l"; tail -n 30 "$l" | sed 's/^/    | /'; }; done
    failn=$((failn + 1)); failed+=("$name")
  fi
done
echo "integration: $pass passed, $failn failed"
[ "$failn" -eq 0 ]
