#!/usr/bin/env bash
# The Nexmark suite (conf/jobs/nexmark/q0..q22), the 10 s tumbling window count
# (conf/jobs/windowed_count.json) and the word count through one real daemon, driven
# by tectl: events per CPU-second = events generated / the daemon's CPU seconds
# (utime + stime from /proc/<pid>/stat) during the job. Printed beside:
#   - Flink 1.13's published per-core throughput (the Nexmark project's results table)
#     and the target of 10x that;
#   - this project's build from before typed rows, measured in the same run: a git
#     worktree of that commit (BASELINE_REV, default the parent of the commit that
#     added proto/ROWS.md) is built into a scratch directory and runs its own jobs of
#     the same queries (q0, q1, q2, q5, windowed_count, wordcount existed then), with
#     the targets of the typed-rows issue (q1, q2 >= 3x, windowed_count >= 3.5x,
#     q5 >= 5x, word count not slower).
# NEXMARK_EVENTS (default 5000000) events per query; joins that keep every row of a
# side (q3, q20) and processing-time q12 run a fifth of that. NEXMARK_QUERIES picks
# queries of conf/jobs/nexmark/ (default all; empty: none, only the window count and the
# word count, which always run), BASELINE=0 skips the older build. NEXMARK_REPEAT
# (default 5) runs of each job, the old build's and this one's alternating (both
# daemons up, one busy at a time: a drift of the shared host's speed hits both alike),
# give the median run of each (CPU time is read in clock ticks, and one run of a fast
# query is a few dozen of them).
set -euo pipefail
BUILD=${1:-build}
EVENTS=${NEXMARK_EVENTS:-5000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=$(cd "$BUILD" && pwd)
WORK=$(mktemp -d /tmp/te-nexmark.XXXXXX)
declare -A DP DR # per side (old, new): the daemon's pid and RPC port
cleanup() {
  for pid in "${DP[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
  if [ -d "$WORK/old" ]; then git worktree remove --force "$WORK/old" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

declare -A FLINK=([q0]=155020 [q1]=157940 [q2]=175210 [q3]=152120 [q4]=34330 [q5]=22140 [q7]=12330
                  [q8]=146140 [q9]=14240 [q10]=57810 [q11]=39700 [q12]=75670 [q13]=130730 [q14]=161230
                  [q15]=72420 [q16]=18650 [q17]=116800 [q18]=53700 [q19]=44040 [q20]=18980 [q21]=98490
                  [q22]=129960)
declare -A OLD_TARGET=([q1]=3 [q2]=3 [q5]=5 [windowed_count]=3.5 [wordcount]=1)
QUERIES=${NEXMARK_QUERIES-q0 q1 q2 q3 q4 q5 q6 q7 q8 q9 q10 q11 q12 q13 q14 q15 q16 q17 q18 q19 q20 q21 q22}
for q in $QUERIES; do # a name that is no query would measure nothing: say so before any run
  [ -f "conf/jobs/nexmark/$q.json" ] || {
    echo "bench_nexmark: NEXMARK_QUERIES: '$q' is not a query of conf/jobs/nexmark/ (windowed_count and wordcount always run)" >&2
    exit 2
  }
done

# start_daemon SIDE TREE BIN: a daemon of that build (its cwd = that build's tree)
start_daemon() {
  local side=$1 tree=$2 bin=$3
  (cd "$tree" && exec "$bin/taskexecutord" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 \
     -D taskmanager.status.port=0 -D taskmanager.numberOfTaskSlots=8) >"$WORK/daemon-$side.log" 2>&1 &
  DP[$side]=$!
  for _ in $(seq 1 200); do grep -q ' READY ' "$WORK/daemon-$side.log" 2>/dev/null && break; sleep 0.05; done
  DR[$side]=$(sed -n 's/.*READY rpc_port=\([0-9]*\).*/\1/p' "$WORK/daemon-$side.log")
  [ -n "${DR[$side]}" ] || { cat "$WORK/daemon-$side.log" >&2; exit 1; }
}
cpu() { awk '{print $14 + $15}' "/proc/${DP[$1]}/stat"; }
hz=$(getconf CLK_TCK)

# measure SIDE TREE BIN JOB EVENTS -> "events cpu_s wall_s" (the job's nexmark count set,
# sinks to /dev/null-like discard, files under WORK)
measure() {
  local side=$1 tree=$2 bin=$3 job=$4 events=$5
  python3 - "$job" "$events" "$WORK/job.json" "$WORK" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for v in j["vertices"]:
    for i, op in enumerate(v["chain"]):
        if op["op"] == "nexmark":
            op["count"] = sys.argv[2]
        if op["op"] == "file_sink":
            op["path"] = sys.argv[4] + "/out/" + op["path"].split("/", 3)[-1] if "{dt}" in op["path"] else sys.argv[4] + "/out-{subtask}.txt"
json.dump(j, open(sys.argv[3], "w"))
PY
  local c0 c1 t0 t1
  c0=$(cpu "$side"); t0=$(date +%s.%N)
  (cd "$tree" && "$bin/tectl" submit "$WORK/job.json" --executor "127.0.0.1:${DR[$side]}") >"$WORK/job.out" 2>&1 ||
    { cat "$WORK/job.out" >&2; return 1; }
  t1=$(date +%s.%N); c1=$(cpu "$side")
  rm -rf "$WORK/out" "$WORK"/out-*
  python3 -c "import sys; print(sys.argv[1], max((int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]), 1e-9), float(sys.argv[6]) - float(sys.argv[5]))" \
    "$events" "$c0" "$c1" "$hz" "$t0" "$t1"
}

# median RUN... -> the run ("events cpu_s wall_s") with the median CPU time
median() { printf '%s\n' "$@" | sort -g -k2 | sed -n "$(( ($# + 1) / 2 ))p"; }

# the word count's input: a fixed text, repeated
python3 - "$WORK/words.txt" <<'PY'
import random, sys
random.seed(3)
words = [("w%d" % i) * (1 + i % 3) for i in range(5000)]
with open(sys.argv[1], "w") as f:
    for _ in range(400000):
        f.write(" ".join(random.choice(words) for _ in range(8)) + "\n")
PY
wordcount_job() { # wordcount_job TREE OUT: the shipped word count of TREE over WORK/words.txt
  python3 - "$1/conf/jobs/wordcount.json" "$WORK/words.txt" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for v in j["vertices"]:
    for op in v["chain"]:
        if op["op"] == "file_lines":
            op["path"] = sys.argv[2]
json.dump(j, open(sys.argv[3], "w"))
PY
}
WORDS_EVENTS=$((400000 * 8))
REPEAT=${NEXMARK_REPEAT:-5}
OLDTREE=
if [ "${BASELINE:-1}" != 0 ]; then
  first=$(git log --diff-filter=A --format=%H -- proto/ROWS.md | tail -1)
  REV=${BASELINE_REV:-$(git rev-parse "${first}^")}
  OLDTREE=$WORK/old
  git worktree add --detach "$OLDTREE" "$REV" >/dev/null 2>&1
  make -C "$OLDTREE" -j2 BUILD=build build/taskexecutord build/tectl >"$WORK/old-build.log" 2>&1 ||
    { tail -20 "$WORK/old-build.log" >&2; exit 1; }
  start_daemon old "$OLDTREE" "$OLDTREE/build"
  wordcount_job "$OLDTREE" "$WORK/wc-old.json"
fi
start_daemon new "$ROOT" "$BUILD"
wordcount_job "$ROOT" "$WORK/wc-new.json"

report() { # report FIGURE "events cpu wall" [flink] [old "events cpu wall"] [old target]
  python3 - "$@" <<'PY'
import json, sys
fig, new = sys.argv[1], sys.argv[2].split()
flink = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else 0
old = sys.argv[4].split() if len(sys.argv) > 4 and sys.argv[4] else None
target = float(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
ev, cpu, wall = int(new[0]), float(new[1]), float(new[2])
per = ev / cpu
d = {"figure": fig, "events": ev, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "events_per_s_per_core": round(per)}
if flink:
    d.update({"flink_1_13_per_core": flink, "ratio_to_flink": round(per / flink, 1), "target_ratio_to_flink": 10})
if old:
    oper = int(old[0]) / float(old[1])
    d.update({"before_typed_rows_per_core": round(oper), "ratio_to_before": round(per / oper, 2)})
    if target:
        d["target_ratio_to_before"] = target
print(json.dumps(d))
PY
}

# run FIGURE NEW_JOB OLD_JOB EVENTS [FLINK] [TARGET]: REPEAT runs on each side,
# alternating (OLD_JOB empty or missing: this build only), reported
run() {
  local fig=$1 job=$2 oldjob=$3 ev=$4 flink=${5:-} target=${6:-} i
  local new=() old=()
  [ -n "$OLDTREE" ] && [ -n "$oldjob" ] && [ -f "$oldjob" ] || oldjob=
  for ((i = 0; i < REPEAT; i++)); do
    [ -n "$oldjob" ] && old+=("$(measure old "$OLDTREE" "$OLDTREE/build" "$oldjob" "$ev")")
    new+=("$(measure new "$ROOT" "$BUILD" "$job" "$ev")")
  done
  report "$fig" "$(median "${new[@]}")" "$flink" "$([ -n "$oldjob" ] && median "${old[@]}")" "$target"
}

for q in $QUERIES; do
  ev=$EVENTS
  case $q in q3|q12|q20) ev=$((EVENTS / 5)) ;; esac
  run "nexmark_$q" "conf/jobs/nexmark/$q.json" "$OLDTREE/conf/jobs/nexmark_$q.json" "$ev" "${FLINK[$q]:-}" \
    "${OLD_TARGET[$q]:-}"
done
run windowed_count conf/jobs/windowed_count.json "$OLDTREE/conf/jobs/windowed_count.json" "$EVENTS" "" \
  "${OLD_TARGET[windowed_count]}"
run wordcount "$WORK/wc-new.json" "$WORK/wc-old.json" "$WORDS_EVENTS" "" "${OLD_TARGET[wordcount]}"
