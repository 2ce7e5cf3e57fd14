#!/usr/bin/env bash
# make bench-instructions: instructions per record counted by callgrind (issue #21's
# yardstick: unlike wall-clock figures it does not depend on the machine's load, so a
# run on a busy shared VM gives the same number as one on a quiet machine, within a
# fraction of a percent). Each figure runs the same program at two input sizes and
# divides the difference of the instruction totals by the difference of the record
# counts, which cancels start-up, set-up and shutdown. Prints one JSON line per figure.
#
#   local_channel_8b  build/bench_local_channel N 1 (source task -> one
#                     PipelinedSubpartition -> LocalInputChannel -> sink task, two
#                     threads), N = 1e6 and 2e6: instructions per 8-byte record,
#                     both threads counted.
#
# Environment: BENCH_INSN_FIGURES (a substring filter on the figure names, default all).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
FILTER=${BENCH_INSN_FIGURES:-}
command -v valgrind >/dev/null || {
  echo '{"figure":"instructions","skipped":"valgrind is not installed (scripts/install-deps.sh adds it)"}'
  exit 0
}
WORK=$(mktemp -d /tmp/te-bench-insn.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

want() { [ -z "$FILTER" ] || [[ "$1" == *"$FILTER"* ]]; }

# Total instructions of a command under callgrind, every thread and every forked
# process (their files summed).
count() {
  local tag=$1
  shift
  rm -f "$WORK/$tag".*
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$tag.%p" "$@" >"$WORK/$tag.log" 2>&1 || {
    echo "callgrind run failed: $*" >&2
    tail -20 "$WORK/$tag.log" >&2
    return 1
  }
  awk '/^summary:/ {s += $2; next} END {printf "%.0f\n", s}' "$WORK/$tag".[0-9]*
}

# per_record FIGURE N1 N2 IR1 IR2 [extra json]
per_record() {
  python3 -c 'import json, sys
f, n1, n2, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
d = {"figure": "instructions_" + f, "instructions_per_record": round((b - a) / (n2 - n1), 1),
     "records": [n1, n2], "instructions": [a, b]}
d.update(json.loads(sys.argv[6]) if len(sys.argv) > 6 else {})
print(json.dumps(d))' "$@"
}

if want local_channel_8b; then
  n1=1000000 n2=2000000
  a=$(BENCH_LIMITS=0 count local1 "$BUILD/bench_local_channel" $n1 1)
  b=$(BENCH_LIMITS=0 count local2 "$BUILD/bench_local_channel" $n2 1)
  per_record local_channel_8b $n1 $n2 "$a" "$b" \
    '{"what":"bench_local_channel N 1: source task -> local channel -> sink task, both threads","target":100}'
fi
