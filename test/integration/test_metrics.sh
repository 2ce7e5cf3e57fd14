# /metrics in Prometheus text format 0.0.4 during a running job: the reference parser
# of the Prometheus Python client (python3-prometheus-client, see prom_check.py)
# accepts two scrapes, every family and label is there, counters only grow and the
# job's record counters grow between the scrapes; a task name with quotes, a
# backslash, a newline and a non-ASCII letter comes back exactly through the label
# escaping. Then the job is cancelled and the task series go away with the tasks.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

prom_python
PY=$PROM_PY

start_daemon tm -D taskmanager.numberOfTaskSlots=2
# The idle daemon's exposition parses too (no task series, every family present).
curl -s -D "$WORK/h0" -o "$WORK/m0.txt" "$tm_STATUS/metrics"
grep -qi '^Content-Type: text/plain; version=0.0.4; charset=utf-8' "$WORK/h0" || { cat "$WORK/h0"; fail "wrong Content-Type"; }
"$PY" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
for n in ["te_build_info", "te_slots", "te_uptime_seconds", "process_resident_memory_bytes"]:
    assert n in fams, n
slots = {s.labels["state"]: s.value for s in fams["te_slots"].samples}
assert slots["FREE"] == 2 and sum(slots.values()) == 2, slots
rss = fams["process_resident_memory_bytes"].samples[0].value
import os
statm = int(open("/proc/%s/statm" % sys.argv[2]).read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
assert rss > 0 and abs(rss - statm) < 64 * 1024 * 1024, (rss, statm)
' "$WORK/m0.txt" "$tm_PID" || fail "idle exposition: $(cat "$WORK/m0.txt")"

SINK_ID='sink \"quoted\" \\back\\slash\nnewline \u00e9'  # JSON-escaped
cat >"$WORK/job.json" <<JSON
{ "name": "metrics", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "unbounded": "true", "rate": "2000" } ] },
    { "id": "$SINK_ID", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "$SINK_ID", "partitioner": "forward" } ] }
JSON
submit_running "$WORK/tectl.out" 2 "$tm_STATUS" "$WORK/job.json" --executor "$tm_RPC"
tectl_pid=$SUBMIT_PID
flowing() { [ "$(http_body "$tm_STATUS/v1/tasks" | json 'min(t["metrics"]["numRecordsIn"] + t["metrics"]["numRecordsOut"] for t in d["tasks"])')" -gt 0 ]; }
wait_until 20 flowing || fail "no records flowing"
job=$(http_body "$tm_STATUS/v1/tasks" | json 'd["tasks"][0]["job_id"]')

curl -s -o "$WORK/m1.txt" "$tm_STATUS/metrics"
# wait until the sink has received more than it had at the first scrape
n1=$(http_body "$tm_STATUS/v1/tasks" | json 'max(t["metrics"]["numRecordsIn"] for t in d["tasks"])')
more() { [ "$(http_body "$tm_STATUS/v1/tasks" | json 'max(t["metrics"]["numRecordsIn"] for t in d["tasks"])')" -gt "$n1" ]; }
wait_until 20 more || fail "the sink's input did not grow"
curl -s -o "$WORK/m2.txt" "$tm_STATUS/metrics"
"$PY" "$HERE/prom_check.py" "$WORK/m1.txt" "$WORK/m2.txt" "$job" || { head -c 4000 "$WORK/m2.txt"; fail "prom_check"; }

# The label values come back exactly as the task names /v1/tasks reports (JSON is the
# independent encoding), and the sample values agree with the JSON counters' bounds.
http_body "$tm_STATUS/v1/tasks" >"$WORK/tasks_after.json"
"$PY" - "$WORK/m2.txt" "$WORK/tasks_after.json" "$job" <<'PY' || fail "labels or values do not match /v1/tasks"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read())}
tasks = json.load(open(sys.argv[2]))["tasks"]
job = sys.argv[3]
names = {t["name"] for t in tasks}
assert 'sink "quoted" \\back\\slash\nnewline \u00e9 (1/1)' in names, names
rec_in = {(s.labels["task_name"], s.labels["subtask"]): s.value
          for s in fams["te_task_records_in"].samples if s.labels["job_id"] == job}
assert set(n for n, _ in rec_in) == names, (rec_in, names)
for t in tasks:
    v = rec_in[(t["name"], str(t["subtask"]))]
    assert v <= t["metrics"]["numRecordsIn"], (t["name"], v, t["metrics"]["numRecordsIn"])
state = {(s.labels["task_name"], s.labels["state"]): s.value for s in fams["te_task_state"].samples}
for t in tasks:
    assert state[(t["name"], "RUNNING")] == 1 and state[(t["name"], "FAILED")] == 0, state
print("labels ok:", sorted(names))
PY

kill -INT "$tectl_pid"
rc=0; wait "$tectl_pid" || rc=$?
[ "$rc" = 130 ] || { cat "$WORK/tectl.out"; fail "tectl exit code after Ctrl-C is $rc, expected 130"; }
wait_until 20 daemon_idle "$tm_STATUS" || fail "daemon not idle after cancel"
curl -s -o "$WORK/m3.txt" "$tm_STATUS/metrics"
"$PY" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1], encoding="utf-8").read())}
running = [s for s in fams["te_tasks"].samples if s.labels["state"] == "RUNNING"]
assert running[0].value == 0, running
slots = {s.labels["state"]: s.value for s in fams["te_slots"].samples}
assert slots["FREE"] == 2, slots
' "$WORK/m3.txt" || fail "exposition after cancel: $(head -c 3000 "$WORK/m3.txt")"
echo "metrics ok"
