# A windowed join of two streams through one real daemon: two file sources with
# out-of-order timestamps (within max_out_of_orderness, so nothing is late whatever the
# interleaving), hash-partitioned by key into a TwoInputStreamTask running window_join
# (tumbling 1s) at parallelism 2; every (key, left, right) pair of the same key and
# window must equal what Python computes from the same files. A union of the same
# streams must forward every record of both inputs exactly once (compared with sort).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_daemon tm -D taskmanager.numberOfTaskSlots=4

python3 - "$WORK" <<'PY'
import random, sys
random.seed(7)
for side, n in (("left", 1500), ("right", 1200)):
    base = 5000
    with open("%s/%s.txt" % (sys.argv[1], side), "w") as f:
        for i in range(n):
            base += random.randint(0, 8)
            f.write("u%d\t%d\t%s%d\n" % (random.randint(0, 29), base - random.randint(0, 150), side[0], i))
PY
mkdir -p "$WORK/join" "$WORK/union"
cat >"$WORK/job.json" <<JSON
{
  "name": "window-join",
  "vertices": [
    { "id": "left", "parallelism": 1, "chain": [
        { "op": "file_lines", "path": "$WORK/left.txt" },
        { "op": "parse", "fields": "k:string, t:int64, tag:string" },
        { "op": "assign_timestamps", "field": "1", "max_out_of_orderness": "200ms", "watermark_interval": "20ms" } ] },
    { "id": "right", "parallelism": 1, "chain": [
        { "op": "file_lines", "path": "$WORK/right.txt" },
        { "op": "parse", "fields": "k:string, t:int64, tag:string" },
        { "op": "assign_timestamps", "field": "1", "max_out_of_orderness": "200ms", "watermark_interval": "0" } ] },
    { "id": "join", "parallelism": 2, "chain": [
        { "op": "window_join", "size": "1s", "left_key_field": "0", "right_key_field": "0" },
        { "op": "file_sink", "path": "$WORK/join/part-{subtask}.txt" } ] },
    { "id": "union", "parallelism": 2, "chain": [
        { "op": "union" },
        { "op": "file_sink", "path": "$WORK/union/part-{subtask}.txt" } ] }
  ],
  "edges": [
    { "from": "left", "to": "join", "partitioner": "hash", "key_field": 0, "input": 0 },
    { "from": "right", "to": "join", "partitioner": "hash", "key_field": 0, "input": 1 },
    { "from": "left", "to": "union", "partitioner": "rebalance", "input": 0 },
    { "from": "right", "to": "union", "partitioner": "rebalance", "input": 1 }
  ]
}
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "tectl submit failed"; }

python3 - "$WORK" >"$WORK/join.expected" <<'PY'
import sys
from collections import defaultdict
w = sys.argv[1]
def load(side):
    d = defaultdict(list)
    for line in open("%s/%s.txt" % (w, side)):
        f = line.rstrip("\n").split("\t")
        d[(f[0], int(f[1]) // 1000)].append(line.rstrip("\n"))
    return d
L, R = load("left"), load("right")
out = []
for k in L:
    for a in L[k]:
        for b in R.get(k, []):
            out.append("%s\t%s\t%s\n" % (k[0], a, b))
print("".join(sorted(out)), end="")
PY
[ -s "$WORK/join.expected" ] || fail "the oracle found no pairs (test data problem)"
sort "$WORK"/join/part-*.txt >"$WORK/join.actual"
diff -u "$WORK/join.expected" "$WORK/join.actual" | head -10
cmp -s "$WORK/join.expected" "$WORK/join.actual" || fail "window_join pairs differ from the Python computation"
sort "$WORK/left.txt" "$WORK/right.txt" >"$WORK/union.expected"
sort "$WORK"/union/part-*.txt >"$WORK/union.actual"
cmp -s "$WORK/union.expected" "$WORK/union.actual" || fail "union output differs from the two inputs"
http_get "$tm_STATUS/v1/tasks"
late=$(json 'sum(t["metrics"]["numLateRecordsDropped"] for t in d["tasks"]+d["finished_history"] if t["name"].startswith("join"))' <<<"$HTTP_BODY")
[ "$late" = 0 ] || fail "window_join dropped $late records as late although none can be"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the job"
echo "window_join matches Python ($(wc -l <"$WORK/join.expected") pairs); union forwards both inputs"
