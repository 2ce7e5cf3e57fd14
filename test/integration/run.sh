#!/usr/bin/env bash
# Runs every test/integration/test_*.sh against the binaries in BUILD (default build).
# Each test gets its own scratch directory; a failing test prints its output.
# A test that cannot run here exits 77 after "SKIP: why" (lib.sh's skip); a passing
# test may have skipped single checks ("SKIP what: why", lib.sh's skip_check). Each
# skip is printed as "SKIP test: why" and counted. Ends with the line
# "integration: N passed, N failed, N skipped".
set -u
BUILD=$(cd "${1:-build}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
pass=0; failn=0; skipn=0; failed=()
for t in "$HERE"/test_*.sh; do
  name=$(basename "$t" .sh)
  [ -n "${ONLY:-}" ] && [[ "$name" != *"$ONLY"* ]] && continue
  work=$(mktemp -d "/tmp/te-it-$name.XXXXXX")
  start=$(date +%s.%N)
  rc=0
  BUILD="$BUILD" WORK="$work" ROOT="$ROOT" timeout 300 bash "$t" </dev/null >"$work/output.txt" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    printf 'PASS %-32s %6.2fs\n' "$name" "$(awk "BEGIN{print $(date +%s.%N) - $start}")"
    pass=$((pass + 1))
    while IFS= read -r line; do
      printf 'SKIP %s/%s\n' "$name" "${line#SKIP }"
      skipn=$((skipn + 1))
    done < <(grep -a '^SKIP [^:]*: ' "$work/output.txt")
    rm -rf "$work"
  elif [ "$rc" = 77 ]; then
    why=$(grep -a -m1 '^SKIP: ' "$work/output.txt" | sed 's/^SKIP: //')
    printf 'SKIP %s: %s\n' "$name" "${why:-(no reason given)}"
    skipn=$((skipn + 1))
    rm -rf "$work"
  else
    printf 'FAIL %-32s (exit %d)\n' "$name" "$rc"
    sed 's/^/    | /' "$work/output.txt" | tail -n 60
    for l in "$work"/*.log; do [ -f "$l" ] && { echo "    -- $l"; tail -n 30 "$l" | sed 's/^/    | /'; }; done
    failn=$((failn + 1)); failed+=("$name")
  fi
done
echo "integration: $pass passed, $failn failed, $skipn skipped"
[ "$failn" -eq 0 ]
