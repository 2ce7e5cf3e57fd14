# Typed rows through a real daemon (proto/ROWS.md): text lines become rows with `parse`
# (tsv), travel hash-partitioned by a string field given by name, and are written back
# as text; unparsable lines go to the side output with their reason. Checked with
# Python: the rows (numbers re-formatted by the format's rule), every key in exactly
# one subtask's file, the rejects. Then a job naming a field the schema lacks is refused
# before any task starts (INVALID_CHAIN naming vertex, operator, field and schema), and
# the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
start_daemon tm
python3 - "$WORK/in.tsv" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        r = random.random()
        if r < 0.01:
            f.write("k%d\tnot-a-number\t1.5\n" % (i % 37))
        elif r < 0.02:
            f.write("k%d\t%d\n" % (i % 37, i))
        else:
            f.write("k%d\t%d\t%r\n" % (i % 37, i - 10000, random.uniform(-1e6, 1e6) if i % 3 else i / 8))
PY
cat >"$WORK/job.json" <<JSON
{ "name": "rows", "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "file_lines", "path": "$WORK/in.tsv" },
        { "op": "parse", "fields": ["k:string", "n:int64", "x:double"] } ] },
    { "id": "out", "parallelism": 3, "chain": [ { "op": "file_sink", "path": "$WORK/out-{subtask}.txt" } ] },
    { "id": "bad", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/bad.txt" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "hash", "key_field": "k" },
             { "from": "src", "to": "bad", "side_output": "unparsable" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "job failed"; }
python3 - "$WORK" <<'PY' || fail "typed rows differ from Python's"
import glob, sys
w = sys.argv[1]
def fmt(d):  # proto/ROWS.md: the shortest of %.15g, %.16g, %.17g that reads back
    for p in (15, 16, 17):
        s = "%.*g" % (p, d)
        if float(s) == d:
            return s
good, bad = [], []
for line in open(w + "/in.tsv"):
    v = line.rstrip("\n").split("\t")
    try:
        assert len(v) == 3
        good.append("%s\t%d\t%s" % (v[0], int(v[1]), fmt(float(v[2]))))
    except (AssertionError, ValueError):
        bad.append(line.rstrip("\n"))
got, where = [], {}
for f in sorted(glob.glob(w + "/out-*.txt")):
    for l in open(f):
        l = l.rstrip("\n")
        got.append(l)
        where.setdefault(l.split("\t")[0], set()).add(f)
assert sorted(got) == sorted(good), "rows differ: %d vs %d" % (len(got), len(good))
assert all(len(s) == 1 for s in where.values()), "a key went to two subtasks"
assert len(set().union(*where.values())) > 1, "every key went to one subtask"
rej = [l.rstrip("\n").split("\t") for l in open(w + "/bad.txt")]
assert sorted("\t".join(r[:-1]) for r in rej) == sorted(bad), "rejects differ"
assert all(r[-1].startswith("field 1 (n): 'not-a-number' is not an int64") or r[-1] == "2 values, expected 3"
           for r in rej), rej[:3]
print("%d rows, %d keys, %d rejects: equal to Python" % (len(got), len(where), len(rej)))
PY

# A field the schema lacks: refused before any task starts, naming it.
sed 's/"key_field": "k"/"key_field": "kk"/' "$WORK/job.json" >"$WORK/bad.json"
"$TECTL" submit "$WORK/bad.json" --executor "$tm_RPC" >"$WORK/bad.out" 2>&1 && fail "a job keyed by a missing field ran"
grep -q "INVALID_CHAIN: edges\[0\] (\"src\" -> \"out\"): key field 'kk' is not in the edge's schema (k:string, n:int64, x:double)" \
  "$WORK/bad.out" || { cat "$WORK/bad.out"; fail "the error does not name the field and the schema"; }
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not free after the refusal"
kill -0 "$tm_PID" || fail "daemon died"
