# kill -9 of a producer daemon mid-stream: the consumer task on the surviving daemon
# FAILS with a cause naming the lost peer (its data address host:port); once the
# scheduler (tectl) learns about it the slots are freed, every segment is back in the
# arena, and the survivor runs a new job.
. "$(dirname "$0")/lib.sh"
start_daemon a -D taskmanager.numberOfTaskSlots=2
start_daemon b -D taskmanager.numberOfTaskSlots=2
data_port() { sed -n 's/.* READY .*data_port=\([0-9]*\).*/\1/p' "$1" | head -1; }
A_DATA=$(data_port "$a_LOG")

# The source (subtask 0, slot 0) lands on a, sink subtask 1 (slot 1) on b: b reads a
# remote partition of a.
cat >"$WORK/job.json" <<JSON
{ "name": "endless",
  "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": 0, "unbounded": true } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
submit_bg "$WORK/tectl.out" "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC"
TECTL_PID=$SUBMIT_PID
sink_running() {
  http_get "$b_STATUS/v1/tasks"
  python3 -c '
import json,sys
d=json.loads(sys.argv[1])
sys.exit(0 if any(t["name"].startswith("sink") and t["state"]=="RUNNING" and t["metrics"]["numRecordsIn"]>0 for t in d["tasks"]) else 1)' "$HTTP_BODY"
}
wait_until 20 sink_running || { cat "$WORK/tectl.out"; fail "the remote sink on b never received records"; }

# Hold the scheduler so it cannot cancel the consumer first: the failure must come
# from the data plane.
kill -STOP "$TECTL_PID"
kill -9 "$a_PID"
sink_failed() {
  http_get "$b_STATUS/v1/tasks"
  python3 -c '
import json,sys
d=json.loads(sys.argv[1])
for t in d["tasks"]+d.get("finished_history",[]):
    if t["name"].startswith("sink") and t["state"]=="FAILED":
        print(t.get("cause") or t.get("failure_cause") or "")
        sys.exit(0)
sys.exit(1)' "$HTTP_BODY" >"$WORK/cause.txt"
}
wait_until 20 sink_failed || { kill -CONT "$TECTL_PID"; echo "$HTTP_BODY"; fail "the consumer task on b did not FAIL after its producer was killed"; }
grep -q "127.0.0.1:$A_DATA" "$WORK/cause.txt" || { cat "$WORK/cause.txt"; fail "the failure cause does not name the peer 127.0.0.1:$A_DATA"; }
grep -q "partition" "$WORK/cause.txt" || fail "the failure cause does not name the partition"
echo "consumer failed: $(cat "$WORK/cause.txt")"
kill -CONT "$TECTL_PID"
wait "$TECTL_PID"; rc=$?
[ "$rc" = 1 ] || fail "tectl exited $rc, expected 1 (job failed)"
wait_until 15 daemon_idle "$b_STATUS" || { http_body "$b_STATUS/v1/overview"; fail "b: slots or segments not released"; }

# The survivor serves on.
mkdir -p "$WORK/out"
cat >"$WORK/job2.json" <<JSON
{ "name": "after", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": 1000 } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/out/out-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "forward" } ] }
JSON
"$TECTL" submit "$WORK/job2.json" --executor "$b_RPC" >"$WORK/tectl2.out" 2>&1 || { cat "$WORK/tectl2.out"; fail "b did not run a new job"; }
cmp -s <(seq 1 1000) "$WORK/out/out-0.txt" || fail "new job on b produced a wrong result"
