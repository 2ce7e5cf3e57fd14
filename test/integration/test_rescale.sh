# Pointwise rescale across two daemons: src (2) -rescale-> mid (5) -rescale-> out (3).
# Producer i of P feeds consumers floor(i*C/P) .. floor((i+1)*C/P)-1 (and the mirror
# when C < P), so out 0 reads mid 0, fed by src 0 only (odd numbers), and out 2 reads
# mids 3 and 4, fed by src 1 only (even numbers); out 1 gets both. All-to-all wiring
# would mix them. Oracles: seq and awk.
. "$(dirname "$0")/lib.sh"
start_daemon a
start_daemon b
cat >"$WORK/job.json" <<JSON
{ "name": "rescale", "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": "1", "to": "30000" } ] },
    { "id": "mid", "parallelism": 5, "chain": [ { "op": "upper" } ] },
    { "id": "out", "parallelism": 3, "chain": [ { "op": "file_sink", "path": "$WORK/out-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "mid", "partitioner": "rescale" },
             { "from": "mid", "to": "out", "partitioner": "rescale" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" >"$WORK/tectl.out" 2>&1 ||
  { cat "$WORK/tectl.out"; fail "job failed"; }
seq 1 30000 | cmp - <(sort -n "$WORK"/out-*.txt) || fail "the outputs together are not 1..30000"
awk '$1 % 2 == 0 { print "even number in out-0: " $1; exit 1 }' "$WORK/out-0.txt" || fail "out 0 read more than src 0"
awk '$1 % 2 == 1 { print "odd number in out-2: " $1; exit 1 }' "$WORK/out-2.txt" || fail "out 2 read more than src 1"
awk '$1 % 2 == 0 { e = 1 } $1 % 2 == 1 { o = 1 } END { exit !(e && o) }' "$WORK/out-1.txt" ||
  fail "out 1 should read both sources (mid 1 from src 0, mid 2 from src 1)"
for d in a b; do
  st=${d}_STATUS
  wait_until 10 daemon_idle "${!st}" || fail "daemon $d not idle after the job"
done
echo "rescale: $(wc -l <"$WORK/out-0.txt") / $(wc -l <"$WORK/out-1.txt") / $(wc -l <"$WORK/out-2.txt") records in out 0 / 1 / 2"
