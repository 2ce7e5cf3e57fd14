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
#   remote_8b         build/bench_network -n N -f net_throughput_8b_100ch_100ms (4 writer
#                     threads -> 100 channels each -> partition server -> TCP loopback ->
#                     partition client -> remote input channels -> the receiver), N = 1e6
#                     and 2e6: instructions per 8-byte record, both processes (the forked
#                     producer and the consumer) and all their threads counted.
#   wordcount         the shipped conf/jobs/wordcount.json (file_lines x1 -> rebalance ->
#                     tokenize x2 -> hash -> keyed_count + file_sink x2) through one real
#                     taskexecutord under callgrind, driven by tectl, on the GPL-3 text
#                     repeated K and 2K times: instructions per word, every thread of the
#                     daemon counted (control, net I/O, flusher and task threads), start-up
#                     and the idle daemon cancelled by the difference.
#   nexmark_q1        conf/jobs/nexmark/q1.json (nexmark bids -> map -> discard, one
#                     task) the same way, 10^6 and 2x10^6 events: per event.
#   windowed_count    conf/jobs/windowed_count.json (nexmark bids -> assign_timestamps ->
#                     hash -> 10 s tumbling count x2 -> file_sink) the same way: per event.
#
# Environment: BENCH_INSN_FIGURES (a substring filter on the figure names, default all);
# BENCH_INSN_KEEP=DIR keeps the callgrind files there (callgrind_annotate them for the
# per-function split; a per-record function's count difference between the two sizes
# divided by the record difference is its share).
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
# keep TAG FILE...: copies the files to $BENCH_INSN_KEEP as TAG.<name> when it is set.
keep() {
  local tag=$1 f
  shift
  [ -n "${BENCH_INSN_KEEP:-}" ] || return 0
  mkdir -p "$BENCH_INSN_KEEP"
  for f in "$@"; do cp "$f" "$BENCH_INSN_KEEP/$tag.$(basename "$f")"; done
}
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
  keep "$tag" "$WORK/$tag".[0-9]*
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

if want remote_8b; then
  n1=1000000 n2=2000000
  a=$(count remote1 "$BUILD/bench_network" -n $n1 -f net_throughput_8b_100ch_100ms)
  b=$(count remote2 "$BUILD/bench_network" -n $n2 -f net_throughput_8b_100ch_100ms)
  per_record remote_8b $n1 $n2 "$a" "$b" \
    '{"what":"bench_network net_throughput_8b_100ch_100ms: producer and consumer processes, every thread"}'
fi

# job_copy TAG JOB [INPUT] [EVENTS]: JOB as $WORK/TAG/job.json, its file_lines reading
# INPUT, its nexmark source generating EVENTS, its file sinks writing under $WORK/TAG.
job_copy() {
  rm -rf "$WORK/$1" && mkdir -p "$WORK/$1/out"
  python3 - "$WORK/$1" "$2" "${3:-}" "${4:-}" <<'PY'
import json, sys
work, path, src, events = sys.argv[1:5]
job = json.load(open(path))
for v in job["vertices"]:
    for op in v["chain"]:
        if op["op"] == "file_lines" and src:
            op["path"] = src
        if op["op"] == "nexmark" and events:
            op["count"] = events
        if op["op"] == "file_sink":
            op["path"] = work + "/out/part-{subtask}.txt"
json.dump(job, open(work + "/job.json", "w"))
PY
}

# daemon_run TAG: $WORK/TAG/job.json through one taskexecutord under callgrind; prints
# its instruction total.
daemon_run() {
  local tag=$1
  valgrind --tool=callgrind --callgrind-out-file="$WORK/$tag/cg.%p" "$BUILD/taskexecutord" \
    -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.numberOfTaskSlots=4 >"$WORK/$tag/daemon.log" 2>&1 &
  local pid=$! rpc=""
  for _ in $(seq 1 600); do
    rpc=$(sed -n 's/.* READY rpc_port=\([0-9]*\).*/\1/p' "$WORK/$tag/daemon.log" | head -1)
    [ -n "$rpc" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$rpc" ] || { cat "$WORK/$tag/daemon.log" >&2; kill "$pid" 2>/dev/null; return 1; }
  if ! "$BUILD/tectl" submit "$WORK/$tag/job.json" --executor "127.0.0.1:$rpc" >"$WORK/$tag/tectl.out" 2>&1 ||
     ! grep -q FINISHED "$WORK/$tag/tectl.out"; then
    cat "$WORK/$tag/tectl.out" >&2; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 1
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  keep "$tag" "$WORK/$tag"/cg.*
  awk '/^summary:/ {s += $2; next} END {printf "%.0f\n", s}' "$WORK/$tag"/cg.*
}

wordcount_run() { job_copy "$1" conf/jobs/wordcount.json "$2" && daemon_run "$1"; }

if want wordcount; then
  text=/usr/share/common-licenses/GPL-3
  [ -r "$text" ] || text=$(ls /usr/share/common-licenses/* | head -1)
  k=${BENCH_INSN_WORDCOUNT_COPIES:-20}
  for i in $(seq 1 $k); do cat "$text"; done >"$WORK/text1"
  cat "$WORK/text1" "$WORK/text1" >"$WORK/text2"
  words() { LC_ALL=C tr -cs 'A-Za-z' '\n' <"$1" | grep -vc '^$'; }
  w1=$(words "$WORK/text1") w2=$(words "$WORK/text2")
  a=$(wordcount_run wc1 "$WORK/text1")
  b=$(wordcount_run wc2 "$WORK/text2")
  per_record wordcount "$w1" "$w2" "$a" "$b" \
    '{"what":"conf/jobs/wordcount.json through one taskexecutord, every thread; per word","target":900}'
fi

for fig in nexmark_q1 windowed_count; do
  want $fig || continue
  job=conf/jobs/nexmark/q1.json
  [ $fig = windowed_count ] && job=conf/jobs/windowed_count.json
  n1=1000000 n2=2000000
  job_copy "${fig}1" $job "" $n1
  a=$(daemon_run "${fig}1")
  job_copy "${fig}2" $job "" $n2
  b=$(daemon_run "${fig}2")
  per_record $fig $n1 $n2 "$a" "$b" "{\"what\":\"$job through one taskexecutord, every thread; per event\"}"
done
