#!/usr/bin/env bash
# make demo: starts a real taskexecutord, runs the shipped word-count job
# (conf/jobs/wordcount.json) through it with tectl, shows the live status endpoint and
# the result, and checks the counts against coreutils.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT="$ROOT/demo-out"
rm -rf "$OUT"; mkdir -p "$OUT/wordcount"
export LC_ALL=C

echo "== starting taskexecutord (4 slots, ephemeral ports)"
"$BUILD/taskexecutord" --config conf/taskexecutor.yaml \
  -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
  -D taskmanager.numberOfTaskSlots=4 >"$OUT/daemon.log" 2>&1 &
DPID=$!
trap 'kill -TERM $DPID 2>/dev/null || true; wait $DPID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q ' READY ' "$OUT/daemon.log" && break; sleep 0.05; done
grep ' READY ' "$OUT/daemon.log" || { cat "$OUT/daemon.log"; exit 1; }
RPC=127.0.0.1:$(sed -n 's/.*READY rpc_port=\([0-9]*\).*/\1/p' "$OUT/daemon.log")
STATUS=http://127.0.0.1:$(sed -n 's/.*status_port=\([0-9]*\).*/\1/p' "$OUT/daemon.log")

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

echo "== slots before the job"
"$BUILD/tectl" slots --executor "$RPC"

echo "== tectl submit (the reference scheduler: registers, requests slots, deploys, follows states)"
"$BUILD/tectl" submit "$OUT/wordcount.json" --executor "$RPC"

echo "== status endpoint: $STATUS/v1/overview"
curl -s "$STATUS/v1/overview" | python3 -m json.tool
echo "== per-task records (from $STATUS/v1/tasks)"
curl -s "$STATUS/v1/tasks" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for t in sorted(d["tasks"] + d["finished_history"], key=lambda t: t["name"]):
    m = t["metrics"]
    print("  %-22s %-9s in=%-7d out=%-7d" % (t["name"], t["state"], m["numRecordsIn"], m["numRecordsOut"]))'

echo "== top 10 words"
cat "$OUT"/wordcount/part-*.txt | sort -t$'\t' -k2,2nr -k1,1 | sed -n '1,10s/^/  /p' # sed reads to the end: no SIGPIPE under pipefail
tr -cs 'A-Za-z' '\n' <"$INPUT" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}' | sort >"$OUT/expected.txt"
cat "$OUT"/wordcount/part-*.txt | sort >"$OUT/actual.txt"
if cmp -s "$OUT/expected.txt" "$OUT/actual.txt"; then
  echo "== RESULT: $(wc -l <"$OUT/actual.txt") distinct words; counts equal coreutils (tr | sort | uniq -c)"
else
  echo "== RESULT: MISMATCH against coreutils"; diff "$OUT/expected.txt" "$OUT/actual.txt" | head; exit 1
fi
