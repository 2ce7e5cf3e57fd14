#!/usr/bin/env bash
# Connector benchmarks (called by scripts/bench.sh; issue #18). One JSON line per
# figure, each with its baseline measured in the same run on the same system:
#   1. kafka_source_records_per_s: kafka source -> discard (parallelism 1, bounded)
#      against librdkafka's own consumer (kafka_tool consume) reading the same topic
#      (target ratio >= 0.8);
#   2. kafka_exactly_once_sink_records_per_s: sequence -> kafka sink, delivery
#      exactly_once, a checkpoint every second, against a plain at-least-once producer
#      (kafka_tool produce, acks=all) producing the same records (target >= 0.7);
#   3. postgres_sink_rows_per_s: file_lines -> postgres sink (streaming COPY, batches of 50000;
#      at_least_once without checkpoints, and exactly_once with a checkpoint every
#      second) against psql's \copy of the same file (target >= 0.5);
#   4. mqtt_source_messages_per_s: the mqtt source draining a persistent session's
#      queued QoS 1 messages against mosquitto_sub draining the same number.
# Kafka runs on librdkafka's mock cluster (no broker is packaged for Debian) unless
# KAFKA_BOOTSTRAP names a real one; PostgreSQL and mosquitto are started here on
# loopback ports (test/integration/lib.sh helpers) and stopped at exit. Job times are
# tectl's submit-to-finish wall time (deployment included).
# Environment: BENCH_KAFKA_RECORDS (1000000), BENCH_PG_ROWS (1000000),
# BENCH_MQTT_MESSAGES (20000: the broker hands queued QoS 1 messages out a few inflight at a time).
set -uo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d /tmp/te-bench-conn.XXXXXX)
export BUILD WORK
. test/integration/lib.sh
trap 'cleanup_daemons; rm -rf "$WORK"' EXIT
KN=${BENCH_KAFKA_RECORDS:-1000000}
PN=${BENCH_PG_ROWS:-1000000}
MN=${BENCH_MQTT_MESSAGES:-20000}

start_daemon tm -D taskmanager.numberOfTaskSlots=4 >/dev/null
now() { date +%s.%N; }
# timed_job JOB [tectl options]: the job's wall time in seconds (fails the bench on error)
timed_job() {
  local t0; t0=$(now)
  "$TECTL" submit "$1" --executor "$tm_RPC" "${@:2}" >"$1.out" 2>&1 || { tail -n 20 "$1.out" >&2; fail "$1 failed"; }
  awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# ---- Kafka ----
# (the mock cluster keeps about 5 MB per partition: 8 partitions hold the input)
start_kafka bench:8 out_eo:8 out_plain:8 >/dev/null
BROKER=$([ "$KAFKA_REAL" = 1 ] && echo "real cluster" || echo "librdkafka mock cluster")
seq 1 "$KN" | awk '{ printf "key%d\tvalue-%012d\n", $1 % 1000, $1 }' >"$WORK/kafka_in.txt"
ktool produce "$KAFKA_BS" "${KT}bench" --keyed <"$WORK/kafka_in.txt" 2>/dev/null || fail "producing the bench topic failed"
t0=$(now)
ktool consume "$KAFKA_BS" "${KT}bench" --count "$KN" --timeout 300 >/dev/null 2>&1 || fail "kafka_tool consume failed"
base=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
cat >"$WORK/ksrc.json" <<JSON
{ "name": "bench-kafka-source", "vertices": [ { "id": "src", "parallelism": 1, "chain": [
    { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topics": "${KT}bench", "start_from": "earliest", "bounded": "true" },
    { "op": "discard" } ] } ], "edges": [] }
JSON
ours=$(timed_job "$WORK/ksrc.json")
echo "{\"figure\": \"kafka_source_records_per_s\", \"records\": $KN, \"value\": $(rate "$KN" "$ours"), \"baseline_librdkafka_consumer\": $(rate "$KN" "$base"), \"ratio\": $(ratio "$base" "$ours"), \"target_ratio\": 0.8, \"broker\": \"$BROKER\"}"

seq 1 "$KN" | awk '{ printf "%d\n", $1 }' >"$WORK/seq.txt"
t0=$(now)
ktool produce "$KAFKA_BS" "${KT}out_plain" <"$WORK/seq.txt" 2>/dev/null || fail "kafka_tool produce failed"
base=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
cat >"$WORK/keo.json" <<JSON
{ "name": "bench-kafka-eo", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": $KN },
      { "op": "kafka", "bootstrap_servers": "$KAFKA_BS", "topic": "${KT}out_eo", "delivery": "exactly_once" } ] } ], "edges": [] }
JSON
ours=$(timed_job "$WORK/keo.json" --checkpoint-interval 1s --checkpoint-dir "$WORK/ck-keo")
echo "{\"figure\": \"kafka_exactly_once_sink_records_per_s\", \"records\": $KN, \"value\": $(rate "$KN" "$ours"), \"baseline_at_least_once_producer\": $(rate "$KN" "$base"), \"ratio\": $(ratio "$base" "$ours"), \"target_ratio\": 0.7, \"checkpoint_interval\": \"1s\", \"broker\": \"$BROKER\"}"

# ---- PostgreSQL ----
start_postgres >/dev/null
seq 1 "$PN" | awk '{ printf "%d\tname-%d\n", $1, $1 * 7 }' >"$WORK/pg_in.txt"
chmod 0644 "$WORK/pg_in.txt"
pg_sql "CREATE TABLE base (n bigint, txt text); CREATE TABLE alo (n bigint, txt text); CREATE TABLE eo (n bigint, txt text)"
t0=$(now)
pg_sql "\\copy base FROM '$WORK/pg_in.txt'" || fail "psql \\copy failed"
base=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
for mode in alo eo; do
  delivery=$([ $mode = eo ] && echo exactly_once || echo at_least_once)
  cat >"$WORK/pg_$mode.json" <<JSON
{ "name": "bench-pg-$mode", "vertices": [ { "id": "src", "parallelism": 1, "chain": [
    { "op": "file_lines", "path": "$WORK/pg_in.txt" },
    { "op": "postgres", "conninfo": "$PG_CONNINFO", "table": "$mode", "columns": "n,txt", "batch_size": "50000",
      "delivery": "$delivery" } ] } ], "edges": [] }
JSON
  if [ $mode = eo ]; then
    ours=$(timed_job "$WORK/pg_$mode.json" --checkpoint-interval 1s --checkpoint-dir "$WORK/ck-pg")
  else
    ours=$(timed_job "$WORK/pg_$mode.json")
  fi
  [ "$(pg_sql "SELECT count(*) FROM $mode")" = "$PN" ] || fail "the $mode table does not hold $PN rows"
  echo "{\"figure\": \"postgres_sink_rows_per_s\", \"delivery\": \"$delivery\", \"rows\": $PN, \"value\": $(rate "$PN" "$ours"), \"baseline_psql_copy\": $(rate "$PN" "$base"), \"ratio\": $(ratio "$base" "$ours"), \"target_ratio\": 0.5}"
done

# ---- MQTT ----
start_mosquitto >/dev/null
B="-h 127.0.0.1 -p $MQTT_PORT"
seq 1 "$MN" | awk '{ printf "reading-%d,%d\n", $1, $1 % 97 }' >"$WORK/mqtt_in.txt"
queue() { # CLIENT_ID: creates the persistent session, then queues MN messages for it
  mosquitto_sub $B -q 1 -c -i "$1" -t bench/mqtt -W 1 -C 1 >/dev/null 2>&1 || true
  mosquitto_pub $B -q 1 -t bench/mqtt -l <"$WORK/mqtt_in.txt"
}
queue bench-sub
t0=$(now)
mosquitto_sub $B -q 1 -c -i bench-sub -t bench/mqtt -C "$MN" -W 300 >/dev/null || fail "mosquitto_sub did not receive $MN messages"
base=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
queue bench-te
cat >"$WORK/mqtt.json" <<JSON
{ "name": "bench-mqtt", "vertices": [ { "id": "src", "parallelism": 1, "chain": [
    { "op": "mqtt", "port": "$MQTT_PORT", "topics": "bench/mqtt", "qos": "1", "client_id": "bench-te",
      "clean_session": "false", "max_messages": "$MN" }, { "op": "discard" } ] } ], "edges": [] }
JSON
ours=$(timed_job "$WORK/mqtt.json")
echo "{\"figure\": \"mqtt_source_messages_per_s\", \"messages\": $MN, \"qos\": 1, \"value\": $(rate "$MN" "$ours"), \"baseline_mosquitto_sub\": $(rate "$MN" "$base"), \"ratio\": $(ratio "$base" "$ours")}"
