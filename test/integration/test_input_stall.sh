# Input stall reports (issue 19, item 1b): a task whose input has data while it neither
# processes anything nor is back-pressured for taskmanager.task.input-stall-threshold
# (1s here) is reported. The job: two subtasks of the stuck_source test plugin into one
# discard sink; subtask 1 gets stuck in user code after 100 records, so it never takes
# the next checkpoint's trigger and never emits its barrier. The sink receives that
# barrier from subtask 0, blocks that channel (which fills with data) and waits for the other.
# Checks: one WARN naming the sink task, the checkpoint and the channel it waits on;
# /v1/tasks/<id> has isInputStalled true, numInputStalls 1, inputStalledTimeMs >= 1000;
# /metrics has te_task_input_stalled 1 and te_task_input_stalls_total 1 for the sink
# (and 0 for the sources); the job cancels cleanly afterwards.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2 -D plugins.dir="$BUILD/plugins" \
  -D taskmanager.task.input-stall-threshold=1s
cat >"$WORK/job.json" <<'JSON'
{ "name": "input-stall",
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "plugin", "library": "stuck_source.so", "stuck_after": "100" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" --checkpoint-interval 200ms --checkpoint-timeout 10min \
  --checkpoint-dir "$WORK/chk" >"$WORK/tectl.out" 2>&1 &
TECTL_PID=$!
warned() { grep -q 'WARN .*\[sink (1/1)\] input stalled for' "$tm_LOG"; }
wait_until 60 warned || { cat "$WORK/tectl.out"; tail -20 "$tm_LOG"; fail "no input stall WARN for the sink"; }
grep 'input stalled' "$tm_LOG"
grep -qE 'aligning checkpoint [0-9]+, the task waits for its barrier on input channel\(s\) 1 \(of 2\) while 1 blocked channel\(s\) hold data' "$tm_LOG" ||
  fail "the WARN does not name the checkpoint and the channel the sink waits on"
[ "$(grep -c 'input stalled' "$tm_LOG")" -eq 1 ] || fail "the stall was reported more than once"

exec_id=$(sed -n 's/.*task \([0-9a-f]\{32\}\) sink (1\/1).*/\1/p' "$WORK/tectl.out" | head -1)
[ -n "$exec_id" ] || fail "no execution id of the sink in tectl's output"
http_get "$tm_STATUS/v1/tasks/$exec_id"
[ "$HTTP_CODE" = 200 ] || fail "GET /v1/tasks/$exec_id answered $HTTP_CODE"
echo "$HTTP_BODY" | json 'd["metrics"]["isInputStalled"] is True and d["metrics"]["numInputStalls"] == 1 and d["metrics"]["inputStalledTimeMs"] >= 1000' |
  grep -qx True || fail "the sink's metrics do not show the stall: $HTTP_BODY"
http_get "$tm_STATUS/metrics"
echo "$HTTP_BODY" | grep -E '^te_task_input_stall(ed|s_total)\{' >"$WORK/stall.prom"
cat "$WORK/stall.prom"
grep -qE '^te_task_input_stalled\{.*task_name="sink \(1/1\)".*\} 1$' "$WORK/stall.prom" || fail "te_task_input_stalled of the sink is not 1"
grep -qE '^te_task_input_stalls_total\{.*task_name="sink \(1/1\)".*\} 1$' "$WORK/stall.prom" || fail "te_task_input_stalls_total of the sink is not 1"
[ "$(grep -cE '^te_task_input_stalled\{.*task_name="src.*\} 0$' "$WORK/stall.prom")" -eq 2 ] || fail "a source is reported stalled"

kill -TERM $TECTL_PID
wait $TECTL_PID
[ $? -eq 130 ] || fail "tectl did not end as cancelled"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the cancel"
echo "the stalled alignment was reported once, on the status endpoint and in /metrics"
