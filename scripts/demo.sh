#!/usr/bin/env bash
# make demo: the default shape of a cluster — one tejobmanager and two taskexecutord
# registered with it. The shipped word count (conf/jobs/wordcount.json) is submitted
# detached (tectl prints the job id and returns), then tectl attaches to it and follows
# it to its end; the REST API shows the job and the TaskExecutors, and the counts are
# checked against coreutils.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT="$ROOT/demo-out"
rm -rf "$OUT"; mkdir -p "$OUT/wordcount"
export LC_ALL=C
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

# ready LOG: waits for the daemon's READY line and prints it.
ready() {
  for _ in $(seq 1 100); do grep -q ' READY ' "$1" && break; sleep 0.05; done
  grep ' READY ' "$1" || { cat "$1"; exit 1; }
}

echo "== starting tejobmanager (ephemeral ports; job store and checkpoints in demo-out/)"
"$BUILD/tejobmanager" --config conf/jobmanager.yaml -D jobmanager.rpc.port=0 -D jobmanager.rest.port=0 \
  -D jobmanager.store.dir="$OUT/jobstore" -D state.checkpoints.dir="$OUT/checkpoints" >"$OUT/jobmanager.log" 2>&1 &
PIDS+=($!)
ready "$OUT/jobmanager.log"
JM_RPC=127.0.0.1:$(sed -n 's/.*READY rpc_port=\([0-9]*\).*/\1/p' "$OUT/jobmanager.log")
JM_REST=127.0.0.1:$(sed -n 's/.*rest_port=\([0-9]*\).*/\1/p' "$OUT/jobmanager.log")
export TE_JOBMANAGER=$JM_REST

for i in 1 2; do
  echo "== starting taskexecutord $i (2 slots, registering with the JobManager at $JM_RPC)"
  "$BUILD/taskexecutord" --config conf/taskexecutor.yaml -D jobmanager.address="$JM_RPC" \
    -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.numberOfTaskSlots=2 -D heartbeat.interval=1s >"$OUT/taskexecutor$i.log" 2>&1 &
  PIDS+=($!)
  ready "$OUT/taskexecutor$i.log"
done
for _ in $(seq 1 100); do
  [ "$("$BUILD/tectl" taskmanagers --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["taskmanagers"]))')" = 2 ] && break
  sleep 0.1
done
echo "== tectl taskmanagers"
"$BUILD/tectl" taskmanagers

# The shipped job, with its sink pointed into demo-out/.
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
job = json.load(open("conf/jobs/wordcount.json"))
for v in job["vertices"]:
    for op in v["chain"]:
        if op["op"] == "file_sink":
            op["path"] = out + "/wordcount/part-{subtask}.txt"
        if op["op"] == "file_lines":
            src = op["path"]
json.dump(job, open(out + "/wordcount.json", "w"), indent=2)
print("== job graph (conf/jobs/wordcount.json): " + " -> ".join(
    "%s[%s x%d]" % (v["id"], "+".join(o["op"] for o in v["chain"]), v["parallelism"]) for v in job["vertices"]))
print("   input: " + src)
open(out + "/input.txt", "w").write(src)
PY
INPUT=$(cat "$OUT/input.txt")

echo "== tectl submit (detached: the JobManager stores the job and runs it; tectl only prints its id)"
JOB=$("$BUILD/tectl" submit "$OUT/wordcount.json")
echo "   job $JOB"
echo "== tectl attach $JOB (the job's plan, every state change, its end)"
"$BUILD/tectl" attach "$JOB"

echo "== tectl job $JOB"
"$BUILD/tectl" job "$JOB"
echo "== the REST API: http://$JM_REST/v1/jobs (and the dashboard at http://$JM_REST/)"
curl -s "http://$JM_REST/v1/jobs" | python3 -m json.tool | sed -n '1,14p'

echo "== top 10 words"
cat "$OUT"/wordcount/part-*.txt | sort -t$'\t' -k2,2nr -k1,1 | sed -n '1,10s/^/  /p' # sed reads to the end: no SIGPIPE under pipefail
tr -cs 'A-Za-z' '\n' <"$INPUT" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}' | sort >"$OUT/expected.txt"
cat "$OUT"/wordcount/part-*.txt | sort >"$OUT/actual.txt"
if cmp -s "$OUT/expected.txt" "$OUT/actual.txt"; then
  echo "== RESULT: $(wc -l <"$OUT/actual.txt") distinct words; counts equal coreutils (tr | sort | uniq -c)"
else
  echo "== RESULT: MISMATCH against coreutils"; diff "$OUT/expected.txt" "$OUT/actual.txt" | head; exit 1
fi
