# The Kafka connectors against librdkafka's mock cluster (a Kafka-protocol broker
# inside librdkafka, started by build/kafka_tool mock), or against the real cluster at
# $KAFKA_BOOTSTRAP when set. Records are produced and read back with kafka_tool, which
# uses librdkafka directly (independent of the connectors), and compared by sort/cmp:
#   1. the source (bounded, 4 partitions over 2 subtasks): every record once with its
#      key, value, topic, partition, offset and timestamp fields;
#   2. per-partition watermarks: records on 1 of 4 partitions; the 3 empty partitions
#      go idle (idle_timeout) and do not hold back the event-time windows, which fire
#      while the unbounded job runs;
#   3. the at_least_once sink: the sequence 1..N produced and read back;
#   4. kill -9 chaos with checkpoints: kafka source -> kafka sink (exactly_once),
#      daemons killed 3 times. Against a real broker the read_committed output must
#      equal the input exactly; the mock cluster does not implement read_committed (it
#      returns aborted and open transactions' records too, see README), so there the
#      test checks that nothing was lost and that transactions were committed, and the
#      source's exactly-once is checked through file_sink's committed output;
#   5. an unreachable cluster fails the task naming the bootstrap servers.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
# Debian's librdkafka starts its threads with C11 thrd_create, which ThreadSanitizer
# (GCC 12) does not intercept: a TSan daemon crashes inside librdkafka at once.
if ldd "$DAEMON" | grep -q libtsan; then
  echo "SKIP test_kafka: librdkafka's C11 threads are not supported by ThreadSanitizer (the ASan build runs it)"
  exit 0
fi
start_kafka in:4 wm:4 out:1 eo:1
start_daemon tm -D taskmanager.numberOfTaskSlots=6

# 1. the source
seq 1 20000 | awk '{ print "k" ($1 % 50) "\tv" $1 }' >"$WORK/in.txt"
ktool produce "$KAFKA_BS" "${KT}in" --keyed <"$WORK/in.txt" || fail "producing the input failed"
cat >"$WORK/src.json" <<JSON
{ "name": "kafka-source", "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topics": "${KT}in",
        "start_from": "earliest", "bounded": "true", "kafka.client.id": "te-test" } ] },
    { "id": "out", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/src.txt" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/src.json" --executor "$tm_RPC" >"$WORK/tectl1.out" 2>&1 || { cat "$WORK/tectl1.out"; fail "the source job failed"; }
cut -f1,2 "$WORK/src.txt" | sort | cmp -s - <(sort "$WORK/in.txt") || fail "the source's key/value fields differ from what was produced"
awk -F'\t' -v t="${KT}in" '$3 != t || $4 < 0 || $4 > 3 || $6 < 1000000000000 { bad++ } END { exit bad > 0 }' "$WORK/src.txt" || fail "bad topic/partition/timestamp fields"
[ "$(cut -f3,4,5 "$WORK/src.txt" | sort -u | wc -l)" = 20000 ] || fail "(topic, partition, offset) is not unique per record"
[ "$(cut -f4 "$WORK/src.txt" | sort -u | wc -l)" = 4 ] || fail "not all 4 partitions were read"
echo "source: 20000 records with key, value, topic, partition, offset, timestamp"

# 2. per-partition watermarks with idle partitions: event time 1000 s .. 1059.9 s on
# partition 0 (a timestamp of 0 would mean "now" to librdkafka)
seq 0 599 | awk '{ print 1000000 + $1 * 100 "\ta\tx" }' | ktool produce "$KAFKA_BS" "${KT}wm" --timestamps --keyed --partition 0 || fail "producing wm failed"
cat >"$WORK/wm.json" <<JSON
{ "name": "kafka-watermarks", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topics": "${KT}wm",
        "start_from": "earliest", "idle_timeout": "300ms" },
        { "op": "parse", "format": "tsv",
          "fields": ["key:string", "value:string", "topic:string", "partition:int64", "offset:int64", "ts:int64"] },
        { "op": "tumbling_window", "key_field": "key", "size": "10s" },
        { "op": "file_sink", "path": "$WORK/wm.txt" } ] } ], "edges": [] }
JSON
submit_bg "$WORK/tectl2.out" "$WORK/wm.json" --executor "$tm_RPC" --checkpoint-interval 200ms --checkpoint-dir "$WORK/ckwm"
T2=$SUBMIT_PID
windows() { cat "$WORK"/wm.txt.part-* 2>/dev/null | wc -l; }
five_windows() { [ "$(windows)" -ge 5 ]; }
wait_until 30 five_windows || { cat "$WORK/tectl2.out"; fail "event-time windows did not fire while 3 of 4 partitions are empty (watermark held back)"; }
kill -INT "$T2"; wait "$T2" 2>/dev/null
printf 'a\t%s\t%s\t100\n' 1000000 1010000 1010000 1020000 1020000 1030000 1030000 1040000 1040000 1050000 | sort >"$WORK/wm.expected"
cat "$WORK"/wm.txt.part-* | sort | cmp -s - "$WORK/wm.expected" || { cat "$WORK"/wm.txt.part-*; fail "windows differ: expected 5 windows of 100 (the last, [1050000,1060000), waits for a later watermark)"; }
echo "watermarks: idle partitions did not hold back the windows; 5 windows of 100 fired before the end of input"

# 3. the at_least_once sink
cat >"$WORK/sink.json" <<JSON
{ "name": "kafka-sink", "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 1, "to": 30000 } ] },
    { "id": "out", "parallelism": 2, "chain": [ { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topic": "${KT}out" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/sink.json" --executor "$tm_RPC" >"$WORK/tectl3.out" 2>&1 || { cat "$WORK/tectl3.out"; fail "the sink job failed"; }
ktool consume "$KAFKA_BS" "${KT}out" --count 30000 --timeout 30 | sort | cmp -s - <(seq 1 30000 | sort) || fail "the sink's records differ from seq 1 30000"
echo "at_least_once sink: 30000 records equal seq"

# 4. chaos: kafka source -> kafka sink (exactly_once) and -> file_sink, checkpoints, kill -9
read -r A_RPC A_DATA B_RPC B_DATA < <(free_ports 4)
start_at() { start_daemon "$1" -D taskmanager.rpc.port="$2" -D taskmanager.data.port="$3" -D taskmanager.numberOfTaskSlots=4; }
start_at a0 "$A_RPC" "$A_DATA"; APID=$a0_PID
start_at b0 "$B_RPC" "$B_DATA"; BPID=$b0_PID
mkdir -p "$WORK/eo"
cat >"$WORK/eo.json" <<JSON
{ "name": "kafka-exactly-once", "config": { "execution.buffer-timeout": "5ms" }, "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topics": "${KT}in",
        "start_from": "earliest", "bounded": "true", "rate": "5000" },
        { "op": "parse", "format": "tsv",
          "fields": ["key:string", "value:string", "topic:string", "partition:int64", "offset:int64", "ts:int64"] },
        { "op": "select", "fields": "value" } ] },
    { "id": "slow", "parallelism": 2, "chain": [ { "op": "filter", "regex": "." } ] },
    { "id": "eo", "parallelism": 2, "chain": [ { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topic": "${KT}eo",
        "delivery": "exactly_once" } ] },
    { "id": "files", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/eo/files.txt" } ] } ],
  "edges": [ { "from": "src", "to": "slow", "partitioner": "rebalance" },
             { "from": "slow", "to": "eo", "partitioner": "rebalance" },
             { "from": "slow", "to": "files", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/eo.json" --executor "127.0.0.1:$A_RPC" --executor "127.0.0.1:$B_RPC" \
  --checkpoint-interval 100ms --checkpoint-dir "$WORK/ck" --restart-attempts 10 --restart-backoff 200ms --timeout 120s \
  >"$WORK/tectl4.out" 2>&1 &
T4=$!
kills=0
while [ $kills -lt 3 ] && kill -0 "$T4" 2>/dev/null; do
  wait_until 20 grep -qs 'checkpoint [0-9]* completed' "$WORK/tectl4.out" || break
  sleep "0.$((4 + RANDOM % 5))"
  grep -q ' FINISHED' "$WORK/tectl4.out" && break
  kills=$((kills + 1))
  if [ $((kills % 2)) = 1 ]; then kill -9 "$APID"; wait "$APID" 2>/dev/null; start_at "a$kills" "$A_RPC" "$A_DATA"; v="a${kills}_PID"; APID=${!v}
  else kill -9 "$BPID"; wait "$BPID" 2>/dev/null; start_at "b$kills" "$B_RPC" "$B_DATA"; v="b${kills}_PID"; BPID=${!v}; fi
  echo "kill $kills"
done
wait "$T4" || { tail -n 30 "$WORK/tectl4.out"; fail "the exactly-once job failed"; }
grep -E 'restarting' "$WORK/tectl4.out" | tail -n 5
cut -f2 "$WORK/in.txt" | sort >"$WORK/eo.expected"
cat "$WORK/eo/files.txt" "$WORK"/eo/files.txt.part-* 2>/dev/null | sort | cmp -s - "$WORK/eo.expected" ||
  fail "kafka source -> file_sink: the committed files differ from the topic (the source's offsets were not restored exactly)"
ktool consume "$KAFKA_BS" "${KT}eo" --read-committed --timeout 30 >"$WORK/eo.out" || fail "reading ${KT}eo failed"
if [ "$KAFKA_REAL" = 1 ]; then
  sort "$WORK/eo.out" | cmp -s - "$WORK/eo.expected" || fail "read_committed output of the exactly-once sink differs from the input"
  echo "chaos ($kills kills): read_committed output equals the input exactly (real broker)"
else
  missing=$(sort -u "$WORK/eo.out" | comm -13 - "$WORK/eo.expected" | wc -l)
  [ "$missing" = 0 ] || fail "the exactly-once sink lost $missing records"
  echo "chaos ($kills kills): file_sink output equals the topic exactly; the exactly-once sink lost nothing ($(wc -l <"$WORK/eo.out") records incl. those of aborted transactions, which the mock cluster does not hide)"
fi

# 5. unreachable cluster
DEAD=$(free_ports 1)
sed "s/$KAFKA_BS/127.0.0.1:$DEAD/; s/\"bounded\": \"true\"/\"bounded\": \"true\", \"connect_timeout\": \"1s\"/" "$WORK/src.json" >"$WORK/dead.json"
"$TECTL" submit "$WORK/dead.json" --executor "$tm_RPC" >"$WORK/tectl5.out" 2>&1 && fail "a job against a closed port succeeded"
grep -q "cannot read the topic metadata from 127.0.0.1:$DEAD" "$WORK/tectl5.out" || { cat "$WORK/tectl5.out"; fail "the failure does not name the bootstrap servers"; }
echo "unreachable: failed naming 127.0.0.1:$DEAD"
