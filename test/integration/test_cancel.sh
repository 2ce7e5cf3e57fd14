# Cancelling an unbounded sequence job (Ctrl-C on tectl) reaches CANCELED; afterwards
# the status endpoint shows every slot free and every network segment available.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2
cat >"$WORK/job.json" <<'JSON'
{ "name": "forever", "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "unbounded": "true" } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
submit_running "$WORK/tectl.out" 4 "$tm_STATUS" "$WORK/job.json" --executor "$tm_RPC"
tectl_pid=$SUBMIT_PID
# Records are flowing: the sinks' input grows.
n1=$(http_body "$tm_STATUS/v1/tasks" | json 'sum(t["metrics"]["numRecordsIn"] for t in d["tasks"] if t["name"].startswith("sink"))')
sleep 0.5
n2=$(http_body "$tm_STATUS/v1/tasks" | json 'sum(t["metrics"]["numRecordsIn"] for t in d["tasks"] if t["name"].startswith("sink"))')
[ "$n2" -gt "$n1" ] || fail "records are not flowing ($n1 -> $n2)"
kill -INT "$tectl_pid"
rc=0; wait "$tectl_pid" || rc=$?
cat "$WORK/tectl.out"
[ "$rc" = 130 ] || fail "tectl exit code after Ctrl-C is $rc, expected 130"
[ "$(grep -c CANCELED "$WORK/tectl.out")" -ge 4 ] || fail "not every task reported CANCELED"
wait_until 10 daemon_idle "$tm_STATUS" || { http_body "$tm_STATUS/v1/overview"; fail "slots/segments not all free after cancel"; }
http_get "$tm_STATUS/v1/overview"; ov=$HTTP_BODY
echo "$ov"
[ "$(json 'd["tasks"]["by_state"]["RUNNING"]' <<<"$ov")" = 0 ] || fail "tasks still RUNNING"
