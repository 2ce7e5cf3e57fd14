# The edge example end to end, as the README walks through it: the shipped
# conf/jobs/sensors_to_postgres.json (MQTT readings -> parse -> per-sensor 10 s
# event-time window averages -> PostgreSQL upsert, exactly once with checkpoints) run
# against a mosquitto broker and a PostgreSQL server this test starts, with only the
# addresses (and a message count, so the job ends) changed. Readings are published
# with mosquitto_pub, including malformed ones; the table is compared with the averages
# Python computes from the published readings, and the malformed readings must be on
# the side output.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_mosquitto
start_postgres
start_daemon tm -D taskmanager.numberOfTaskSlots=4
pg_sql "CREATE TABLE sensor_avg (sensor text, window_start bigint, window_end bigint, avg_value double precision,
        PRIMARY KEY (sensor, window_start))"
python3 - "$WORK" <<'PY'
import random, sys
random.seed(5)
w = sys.argv[1]
good = {s: [] for s in ("s1", "s2", "s3")}
merged = []
for s in good:
    t = 1700000000000
    for i in range(150):
        t += random.randint(100, 600)
        good[s].append("%d,%.1f" % (t, random.uniform(-10, 40)))
        merged.append((t, s, good[s][-1]))
for s, lines in good.items():
    open("%s/%s.txt" % (w, s), "w").write("\n".join(lines) + "\n")
# published as sensors publishing at the same time would: in 1.5 s slots of event
# time (less than max_out_of_orderness), each sensor's readings of a slot together
groups = {}
for t, s, m in sorted(merged):
    groups.setdefault(((t - 1700000000000) // 1500, s), []).append(m)
open(w + "/publish.txt", "w").write("".join("%s %s\n" % (s, " ".join(ms)) for (_, s), ms in sorted(groups.items())))
open(w + "/bad.txt", "w").write("not-a-reading\n1700000001000,warm\n,12.5\n")
PY
N=$((3 * 150 + 3))
python3 - "$ROOT/conf/jobs/sensors_to_postgres.json" "$MQTT_PORT" "$PG_CONNINFO" "$N" "$WORK/malformed.txt" >"$WORK/job.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for v in j["vertices"]:
    for op in v["chain"]:
        if op["op"] == "mqtt":
            op["port"] = sys.argv[2]; op["max_messages"] = sys.argv[4]
        elif op["op"] == "postgres":
            op["conninfo"] = sys.argv[3]
        elif op["op"] == "file_sink":
            op["path"] = sys.argv[5]
print(json.dumps(j))
PY
n0=$(grep -c "mqtt: subscribed at" "$tm_LOG")
sub_more() { [ "$(grep -c "mqtt: subscribed at" "$tm_LOG")" -gt "$n0" ]; }
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" --checkpoint-interval 300ms --checkpoint-dir "$WORK/ck" \
  --timeout 90s >"$WORK/tectl.out" 2>&1 &
T=$!
wait_until 20 sub_more || { cat "$WORK/tectl.out"; fail "the MQTT source never subscribed"; }
while read -r s ms; do
  tr ' ' '\n' <<<"$ms" | mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t "sensors/$s/temperature" -l
done <"$WORK/publish.txt"
mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -q 1 -t sensors/s1/temperature -l <"$WORK/bad.txt"
wait "$T" || { tail -n 30 "$WORK/tectl.out"; fail "the example job failed"; }
pg_sql "SELECT sensor, window_start, window_end, avg_value FROM sensor_avg" >"$WORK/table.txt"
python3 - "$WORK" <<'PY' || fail "sensor_avg differs from the averages computed by Python"
import collections, sys
w = sys.argv[1]
exp = collections.defaultdict(list)
for s in ("s1", "s2", "s3"):
    for line in open("%s/%s.txt" % (w, s)):
        ts, v = line.split(",")
        exp[("sensors/%s/temperature" % s, int(ts) // 10000 * 10000)].append(float(v))
got = {}
for line in open(w + "/table.txt"):
    sensor, start, end, avg = line.rstrip("\n").split("\t")
    assert int(end) == int(start) + 10000, line
    got[(sensor, int(start))] = float(avg)
assert set(got) == set(exp), "windows: missing %s, extra %s" % (sorted(set(exp) - set(got))[:3], sorted(set(got) - set(exp))[:3])
for k, vals in exp.items():
    a = sum(vals) / len(vals)
    assert abs(got[k] - a) <= 1e-9 * max(1.0, abs(a)), (k, got[k], a)
print("%d windows of 3 sensors equal Python's averages" % len(exp))
PY
cat "$WORK"/malformed.txt* 2>/dev/null | sort >"$WORK/malformed.sorted" # committed parts (checkpoints)
sed 's/,/\t/' "$WORK/bad.txt" | awk '{ print "sensors/s1/temperature\t" $0 }' | sort | cmp -s - "$WORK/malformed.sorted" ||
  { cat "$WORK/malformed.sorted"; fail "the malformed readings are not on the side output"; }
[ "$(pg_sql "SELECT count(*) FROM pg_prepared_xacts")" = 0 ] || fail "prepared transactions left behind"
[ "$(grep -c 'writing to "sensor_avg" on .*, delivery exactly_once' "$tm_LOG")" = 2 ] ||
  fail "the sink did not choose exactly_once (delivery auto with checkpoints)"
echo "example: malformed readings on the side output, no prepared transaction left"
