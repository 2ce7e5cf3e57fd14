# Failures the daemon must survive: the JobManager (tectl) killed mid-job fails the
# job's tasks and frees its slots; too little network memory rejects a deployment
# naming required vs available and the config key; SIGTERM with a running job cancels
# it and exits 0.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2
cat >"$WORK/forever.json" <<'JSON'
{ "name": "forever", "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "unbounded": "true" } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
submit_running "$WORK/t1.out" 4 "$tm_STATUS" "$WORK/forever.json" --executor "$tm_RPC"
tp=$SUBMIT_PID
kill -9 "$tp"; wait "$tp" 2>/dev/null
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not freed after the JobManager was lost"
grep -q "JobManager of job .* lost\|disconnected" "$tm_LOG" || fail "no log line about the lost JobManager"
failed=$(http_body "$tm_STATUS/v1/tasks" | json 'sum(1 for t in d["finished_history"] if t["state"]=="FAILED" and "JobManager" in (t.get("cause") or ""))')
[ "$failed" = 4 ] || fail "expected 4 tasks FAILED naming the JobManager, got $failed"

# Too little network memory: 1mb / 512kb = 2 segments; a partition of 4
# subpartitions needs at least min(4 + 1, buffers-per-channel 2 + 1) = 3.
start_daemon small -D taskmanager.memory.network.size=1mb -D taskmanager.memory.segment-size=512kb
cat >"$WORK/wide.json" <<'JSON'
{ "name": "wide", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "to": "10" } ] },
    { "id": "sink", "parallelism": 4, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/wide.json" --executor "$small_RPC" >"$WORK/wide.out" 2>&1 && fail "over-wide job accepted"
cat "$WORK/wide.out"
grep -q INSUFFICIENT_BUFFERS "$WORK/wide.out" || fail "no INSUFFICIENT_BUFFERS error"
grep -q "required 3" "$WORK/wide.out" || fail "the error does not say how many buffers are required"
grep -q "taskmanager.memory.network.size" "$WORK/wide.out" || fail "the error does not name the config key"
wait_until 10 daemon_idle "$small_STATUS" || fail "slots not freed after the rejection"

# SIGTERM while a job runs: tasks cancelled, exit 0.
submit_running "$WORK/t2.out" 4 "$tm_STATUS" "$WORK/forever.json" --executor "$tm_RPC"
tp=$SUBMIT_PID
kill -TERM "$tm_PID"
rc=0; wait "$tm_PID" || rc=$?
[ "$rc" = 0 ] || fail "daemon exit code $rc after SIGTERM"
rc=0; wait "$tp" || rc=$?
[ "$rc" != 0 ] || fail "tectl reported success for a job killed by SIGTERM"
