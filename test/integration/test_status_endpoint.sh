# The status endpoint: overview, slots, tasks; JSON errors for unknown paths,
# malformed and unknown execution ids, and non-GET methods.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2 -D taskmanager.memory.network.size=8mb
http_get "$tm_STATUS/v1/overview"; ov=$HTTP_BODY; [ "$HTTP_CODE" = 200 ] || fail "overview $HTTP_CODE"
[ "$(json 'd["network"]["segments_total"]' <<<"$ov")" = 256 ] || fail "8mb / 32kb should be 256 segments: $ov"
[ "$(json 'd["slots"]["free"]' <<<"$ov")" = 2 ] || fail "free slots"
http_get "$tm_STATUS/v1/slots"; sl=$HTTP_BODY; [ "$(json 'len(d["slots"])' <<<"$sl")" = 2 ] || fail "slots: $sl"
http_get "$tm_STATUS/v1/nope"; body=$HTTP_BODY; [ "$HTTP_CODE" = 404 ] || fail "unknown path -> $HTTP_CODE"
json 'd["error"]' <<<"$body" >/dev/null || fail "404 body is not JSON with error: $body"
http_get "$tm_STATUS/v1/tasks/xyz"; body=$HTTP_BODY; [ "$HTTP_CODE" = 400 ] || fail "malformed id -> $HTTP_CODE"
http_get "$tm_STATUS/v1/tasks/0123456789abcdef0123456789abcdef"; body=$HTTP_BODY; [ "$HTTP_CODE" = 404 ] || fail "unknown id -> $HTTP_CODE"
grep -q 0123456789abcdef0123456789abcdef <<<"$body" || fail "404 does not name the id: $body"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$tm_STATUS/v1/overview"); [ "$code" = 405 ] || fail "POST -> $code"

# A running job shows up with its metrics, then finishes.
cat >"$WORK/job.json" <<'JSON'
{ "name": "slow", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "6000", "rate": "1000" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "upper" }, { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON
submit_running "$WORK/tectl.out" 2 "$tm_STATUS" "$WORK/job.json" --executor "$tm_RPC"
tp=$SUBMIT_PID
id=$(http_body "$tm_STATUS/v1/tasks" | json '[t["execution_id"] for t in d["tasks"] if t["name"].startswith("sink")][0]')
http_get "$tm_STATUS/v1/tasks/$id"; t=$HTTP_BODY; [ "$HTTP_CODE" = 200 ] || fail "task $id -> $HTTP_CODE"
for k in numRecordsIn numRecordsOut numBytesIn numBytesOut isBackPressured inPoolUsage outPoolUsage; do
  json "d['metrics']['$k']" <<<"$t" >/dev/null || fail "metric $k missing: $t"
done
# Busy/idle time are published while the task runs: the sink of a 1000 records/s
# source is mostly idle.
sink_idle() { [ "$(http_body "$tm_STATUS/v1/tasks/$id" | json 'int(d["metrics"]["idleTimeMsPerSecond"] > 100)')" = 1 ]; }
wait_until 3 sink_idle || fail "idleTimeMsPerSecond of a running, mostly idle sink stays at 0"
wait "$tp" || { cat "$WORK/tectl.out"; fail "job failed"; }
http_get "$tm_STATUS/v1/tasks/$id"; t=$HTTP_BODY; [ "$HTTP_CODE" = 200 ] || fail "finished task not found"
[ "$(json 'd["state"]' <<<"$t")" = FINISHED ] || fail "state: $t"
[ "$(json 'd["metrics"]["numRecordsIn"]' <<<"$t")" = 6000 ] || fail "numRecordsIn: $t"
http_get "$tm_STATUS/metrics"; mt=$HTTP_BODY; [ "$HTTP_CODE" = 200 ] || fail "/metrics $HTTP_CODE"
grep -q '^te_slots{state="FREE"}' <<<"$mt" || fail "metrics text"
