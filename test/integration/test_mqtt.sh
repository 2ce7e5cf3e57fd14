# The MQTT connectors against a real mosquitto broker this test starts (loopback, as
# nobody): the source subscribed with a wildcard filter (messages of other topics never
# arrive; a payload with a tab goes to the side output), a persistent session
# (clean_session=false, qos 1) receiving what was published while no job ran, the sink
# publishing to per-record topics (topic_field; an invalid topic goes to the side
# output), and an unreachable broker failing the task with its address and the
# library's error and no password anywhere. Published and received messages are
# compared with the input files by sort/cmp.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_mosquitto
start_daemon tm -D taskmanager.numberOfTaskSlots=4
B="-h 127.0.0.1 -p $MQTT_PORT"
subscribed() { grep -c "mqtt: subscribed at" "$tm_LOG"; }
subscribed_more() { [ "$(subscribed)" -gt "$1" ]; }
received_at_least() { [ "$(grep -vc '^out/probe' "$WORK/sub.txt")" -ge "$1" ]; }

# 1. the source: sensors/+/temp, 3000 good messages on two topics, 40 with a tab,
# 500 on a topic the filter does not match
seq 1 1500 | awk '{ print "r" $1 ",2" $1 }' >"$WORK/a.txt"
seq 1 1500 | awk '{ print "q" $1 }' >"$WORK/b.txt"
seq 1 40 | awk '{ print "bad\t" $1 }' >"$WORK/bad_in.txt"
seq 1 500 >"$WORK/other.txt"
cat >"$WORK/src.json" <<JSON
{ "name": "mqtt-source", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "mqtt", "port": "$MQTT_PORT", "topics": "sensors/+/temp",
        "qos": "1", "max_messages": "3040", "password": "mqtt-secret-1", "username": "u" } ] },
    { "id": "out", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/src.txt" } ] },
    { "id": "bad", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/bad.txt" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "forward" },
             { "from": "src", "to": "bad", "partitioner": "forward", "side_output": "malformed" } ] }
JSON
n0=$(subscribed)
submit_bg "$WORK/tectl1.out" "$WORK/src.json" --executor "$tm_RPC" --timeout 60s
T1=$SUBMIT_PID
wait_until 20 subscribed_more "$n0" || { cat "$WORK/tectl1.out"; fail "the source never subscribed"; }
mosquitto_pub $B -q 1 -t sensors/x/humidity -l <"$WORK/other.txt"
mosquitto_pub $B -q 1 -t sensors/a/temp -l <"$WORK/a.txt"
mosquitto_pub $B -q 1 -t sensors/b/temp -l <"$WORK/b.txt"
mosquitto_pub $B -q 1 -t sensors/a/temp -l <"$WORK/bad_in.txt"
wait "$T1" || { cat "$WORK/tectl1.out"; fail "the source job failed"; }
{ awk '{ print "sensors/a/temp\t" $0 }' "$WORK/a.txt"; awk '{ print "sensors/b/temp\t" $0 }' "$WORK/b.txt"; } | sort >"$WORK/src.expected"
sort "$WORK/src.txt" | cmp -s - "$WORK/src.expected" || { diff <(sort "$WORK/src.txt") "$WORK/src.expected" | head; fail "the source's records differ from what was published"; }
awk '{ print "sensors/a/temp\t" $0 }' "$WORK/bad_in.txt" | sort | cmp -s - <(sort "$WORK/bad.txt") || fail "the side output is not the 40 payloads with a tab"
echo "source: 3000 messages of sensors/+/temp as topic<TAB>payload, 40 to the side output, none of sensors/x/humidity"

# 2. a persistent session: what is published while no job runs arrives at the next one
persist_job() { # MAX OUT
  cat <<JSON
{ "name": "mqtt-persist", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "mqtt", "port": "$MQTT_PORT", "topics": "persist/#",
        "client_id": "te-test-persist", "clean_session": "false", "max_messages": "$1" },
        { "op": "file_sink", "path": "$2" } ] } ], "edges": [] }
JSON
}
persist_job 50 "$WORK/p1.txt" >"$WORK/p1.json"
n0=$(subscribed)
submit_bg "$WORK/tectl2.out" "$WORK/p1.json" --executor "$tm_RPC" --timeout 60s
T2=$SUBMIT_PID
wait_until 20 subscribed_more "$n0" || fail "the persistent-session source never subscribed"
seq 1 50 | mosquitto_pub $B -q 1 -t persist/one -l
wait "$T2" || { cat "$WORK/tectl2.out"; fail "the first persistent-session job failed"; }
seq 51 120 | mosquitto_pub $B -q 1 -t persist/two -l # no job runs now: the broker queues them
persist_job 70 "$WORK/p2.txt" >"$WORK/p2.json"
"$TECTL" submit "$WORK/p2.json" --executor "$tm_RPC" --timeout 60s >"$WORK/tectl3.out" 2>&1 || { cat "$WORK/tectl3.out"; fail "the second persistent-session job failed"; }
seq 51 120 | awk '{ print "persist/two\t" $1 }' | cmp -s - "$WORK/p2.txt" || { head "$WORK/p2.txt"; fail "messages published between the jobs were not delivered in order to the restarted session"; }
echo "persistent session: the 70 messages published while no job ran arrived at the next job"

# 3. the sink: topic from field 0, payload field 1; 20 records with an invalid topic
mosquitto_sub $B -q 1 -t 'out/#' -v >"$WORK/sub.txt" 2>&1 &
SUB=$!
wait_until 10 bash -c "mosquitto_pub $B -q 1 -t out/probe -m p; grep -q '^out/probe p' '$WORK/sub.txt'" || fail "mosquitto_sub never subscribed"
{ seq 1 5000 | awk '{ print "out/t" ($1 % 3) "\tv" $1 }'; seq 1 20 | awk '{ print "out/+/bad\tw" $1 }'; } >"$WORK/sink_in.txt"
cat >"$WORK/sink.json" <<JSON
{ "name": "mqtt-sink", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "file_lines", "path": "$WORK/sink_in.txt" } ] },
    { "id": "pub", "parallelism": 2, "chain": [ { "op": "mqtt", "port": "$MQTT_PORT", "topic_field": "0", "payload_field": "1", "qos": "1" } ] },
    { "id": "bad", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/sink_bad.txt" } ] } ],
  "edges": [ { "from": "src", "to": "pub", "partitioner": "rebalance" },
             { "from": "pub", "to": "bad", "partitioner": "rebalance", "side_output": "malformed" } ] }
JSON
"$TECTL" submit "$WORK/sink.json" --executor "$tm_RPC" >"$WORK/tectl4.out" 2>&1 || { cat "$WORK/tectl4.out"; fail "the sink job failed"; }
wait_until 20 received_at_least 5000 || fail "mosquitto_sub received $(grep -vc '^out/probe' "$WORK/sub.txt") of 5000"
kill "$SUB"; wait "$SUB" 2>/dev/null
seq 1 5000 | awk '{ print "out/t" ($1 % 3) " v" $1 }' | sort >"$WORK/sub.expected"
grep -v '^out/probe' "$WORK/sub.txt" | sort | cmp -s - "$WORK/sub.expected" || fail "mosquitto_sub's messages differ from the records"
seq 1 20 | awk '{ print "out/+/bad\tw" $1 }' | sort | cmp -s - <(sort "$WORK/sink_bad.txt") || fail "the invalid topics are not on the side output"
echo "sink: 5000 messages on 3 topics equal the records, 20 invalid topics on the side output"

# 4. unreachable broker
DEAD=$(free_ports 1)
sed "s/\"port\": \"$MQTT_PORT\"/\"port\": \"$DEAD\"/" "$WORK/src.json" >"$WORK/dead.json"
"$TECTL" submit "$WORK/dead.json" --executor "$tm_RPC" >"$WORK/tectl5.out" 2>&1 && fail "a job against a closed port succeeded"
grep -q "cannot connect to the MQTT broker at 127.0.0.1:$DEAD: Connection refused" "$WORK/tectl5.out" || { cat "$WORK/tectl5.out"; fail "the failure does not name the address and the error"; }
http_get "$tm_STATUS/v1/tasks"
for f in "$WORK"/tectl*.out "$tm_LOG"; do grep -q "mqtt-secret-1" "$f" && fail "the password appears in $f"; done
grep -q "mqtt-secret-1" <<<"$HTTP_BODY" && fail "the password appears on the status endpoint"
echo "unreachable: failed naming 127.0.0.1:$DEAD and 'Connection refused'; the password appears nowhere"
daemon_idle "$tm_STATUS" || fail "daemon not idle after the jobs"
