# The PostgreSQL connectors against a real server this test starts (initdb + pg_ctl
# as nobody on a loopback port, password authentication): the sink in insert mode
# (COPY), upsert mode (INSERT ... ON CONFLICT) and with rejected rows (too few fields,
# a value the column's type refuses) going to a side output; the split source reading
# a table at parallelism 2; an unreachable server (the task fails naming the address
# and libpq's error, the password appears nowhere); and exactly-once refused with a
# clear message when max_prepared_transactions is 0. Every result is compared with an
# oracle computed by seq/awk/sort from the inputs, never by the connector.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_postgres
start_daemon tm -D taskmanager.numberOfTaskSlots=4
submit() { "$TECTL" submit "$1" --executor "$tm_RPC" "${@:2}" >"$WORK/tectl.out" 2>&1; }

# 1. insert (COPY), at parallelism 2, no checkpoints: at_least_once batches
pg_sql "CREATE TABLE seq_t (id bigint NOT NULL, txt text)"
cat >"$WORK/insert.json" <<JSON
{ "name": "pg-insert", "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 1, "to": 30000 } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "postgres", "conninfo": "$PG_CONNINFO",
        "table": "seq_t", "columns": "0:id,0:txt", "batch_size": "700" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
submit "$WORK/insert.json" || { cat "$WORK/tectl.out"; fail "insert job failed"; }
seq 1 30000 | awk '{print $1 "\t" $1}' | sort >"$WORK/insert.expected"
pg_sql "SELECT id, txt FROM seq_t" | sort >"$WORK/insert.actual"
cmp -s "$WORK/insert.expected" "$WORK/insert.actual" || { comm -3 "$WORK/insert.expected" "$WORK/insert.actual" | head; fail "seq_t differs from seq 1 30000"; }
echo "insert: 30000 rows equal seq"

# 2. upsert with rejected rows: key<TAB>value lines; some lack the value field, some
# carry a value that is not an integer. The table keeps the last value per key.
pg_sql "CREATE TABLE kv (k text PRIMARY KEY, v bigint)"
python3 - "$WORK/kv.txt" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(6000):
        k = "key%d" % random.randint(0, 299)
        r = random.random()
        if r < 0.01: f.write(k + "\n")                    # one field: malformed
        elif r < 0.02: f.write(k + "\tnot-a-number\n")    # rejected by bigint
        else: f.write("%s\t%d\n" % (k, random.randint(-10**12, 10**12)))
PY
cat >"$WORK/upsert.json" <<JSON
{ "name": "pg-upsert", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "file_lines", "path": "$WORK/kv.txt" },
        { "op": "postgres", "conninfo": "$PG_CONNINFO", "table": "public.kv", "columns": "k,v",
          "mode": "upsert", "key_columns": "k", "batch_size": "1000", "side_output": "bad" } ] },
    { "id": "bad", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/bad.txt" } ] } ],
  "edges": [ { "from": "src", "to": "bad", "partitioner": "forward", "side_output": "bad" } ] }
JSON
submit "$WORK/upsert.json" || { cat "$WORK/tectl.out"; fail "upsert job failed"; }
awk -F'\t' 'NF == 2 && $2 ~ /^-?[0-9]+$/ { last[$1] = $2 } END { for (k in last) print k "\t" last[k] }' "$WORK/kv.txt" | sort >"$WORK/kv.expected"
pg_sql "SELECT k, v FROM kv" | sort >"$WORK/kv.actual"
cmp -s "$WORK/kv.expected" "$WORK/kv.actual" || { comm -3 "$WORK/kv.expected" "$WORK/kv.actual" | head; fail "kv differs from the last value per key (awk)"; }
awk -F'\t' '!(NF == 2 && $2 ~ /^-?[0-9]+$/)' "$WORK/kv.txt" | sort >"$WORK/bad.expected"
sort "$WORK/bad.txt" | cmp -s - "$WORK/bad.expected" || fail "the side output is not exactly the malformed and rejected lines"
echo "upsert: $(wc -l <"$WORK/kv.expected") keys equal awk's last values; $(wc -l <"$WORK/bad.expected") bad lines on the side output"

# 3. the split source: 4 ranges of id over 2 subtasks
pg_sql "CREATE TABLE src_t (id bigint PRIMARY KEY, name text); INSERT INTO src_t SELECT g, 'n' || (g * 7) FROM generate_series(1, 25000) g"
cat >"$WORK/source.json" <<JSON
{ "name": "pg-source", "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "postgres", "conninfo": "$PG_CONNINFO",
        "query": "SELECT id, name FROM src_t WHERE id % 5 <> 0", "split_column": "id", "splits": "4", "fetch_size": "333" } ] },
    { "id": "out", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/source.txt" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "rebalance" } ] }
JSON
submit "$WORK/source.json" || { cat "$WORK/tectl.out"; fail "source job failed"; }
seq 1 25000 | awk '$1 % 5 != 0 { print $1 "\tn" $1 * 7 }' | sort >"$WORK/source.expected"
sort "$WORK/source.txt" | cmp -s - "$WORK/source.expected" || fail "the source's rows differ from awk's"
echo "source: $(wc -l <"$WORK/source.expected") rows equal awk's"

# 4. unreachable server: the task fails naming the address and libpq's error; the
# password is neither logged nor on the status endpoint
DEAD=$(free_ports 1)
sed "s/port=$PG_PORT/port=$DEAD/" "$WORK/insert.json" >"$WORK/dead.json"
submit "$WORK/dead.json" && fail "a job against a closed port succeeded"
grep -q "cannot connect to PostgreSQL (host=127.0.0.1 port=$DEAD user=te password=\*\*\* dbname=postgres)" "$WORK/tectl.out" ||
  { cat "$WORK/tectl.out"; fail "the failure does not name the address"; }
grep -qi "refused" "$WORK/tectl.out" || { cat "$WORK/tectl.out"; fail "the failure does not carry libpq's error"; }
http_get "$tm_STATUS/v1/tasks"
for f in "$WORK/tectl.out" "$tm_LOG"; do
  grep -q "$PG_PASSWORD" "$f" && fail "the password appears in $f"
done
grep -q "$PG_PASSWORD" <<<"$HTTP_BODY" && fail "the password appears on the status endpoint"
echo "unreachable: failed with the address and libpq's error, password redacted"

# 5. exactly_once needs prepared transactions: with max_prepared_transactions = 0 the
# sink refuses with a message saying what to change
pg_ctl_as restart -c max_prepared_transactions=0
sed 's/"batch_size": "700"/"batch_size": "700", "delivery": "exactly_once"/' "$WORK/insert.json" >"$WORK/eo.json"
submit "$WORK/eo.json" && fail "exactly_once ran without prepared transactions"
grep -q "max_prepared_transactions = 0" "$WORK/tectl.out" || { cat "$WORK/tectl.out"; fail "no clear max_prepared_transactions message"; }
echo "max_prepared_transactions=0: refused with a clear message"
daemon_idle "$tm_STATUS" || fail "daemon not idle after the jobs"
