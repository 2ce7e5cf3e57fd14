# Restore at another parallelism: a keyed count (sequence 1..N rate-limited, keyed by
# round(n / 1024), keyed_count emit=updates → file_sink) runs at parallelism 2 until
# checkpoints completed; then tectl and both daemons are kill -9'ed. `tectl
# checkpoints` lists the retained ones (at most 3). The newest _metadata is truncated:
# `tectl submit --from-checkpoint <job dir>` must skip it with a warning, resume the same
# job id from the one before, with the counting vertex at parallelism 3 (key groups
# redistributed), on two fresh daemons. The final count per key (the largest committed
# update) must equal the count seq + awk compute, and the committed updates must be
# exactly 1..c per key (nothing lost, nothing twice).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=200000
RATE=40000 # about 5 s at full length
start_daemon a -D taskmanager.numberOfTaskSlots=3
start_daemon b -D taskmanager.numberOfTaskSlots=3
mkdir -p "$WORK/out"
job() { # COUNT_PARALLELISM
  cat <<JSON
{ "name": "keyed-count-rescale", "config": { "execution.buffer-timeout": "5ms" },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 1, "to": $N, "rate": $RATE },
                                                { "op": "scale", "field": 0, "factor": 0.0009765625 } ] },
    { "id": "count", "parallelism": $1, "chain": [ { "op": "keyed_count", "emit": "updates" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
}
job 2 >"$WORK/job2.json"
job 3 >"$WORK/job3.json"
submit_bg "$WORK/tectl1.out" "$WORK/job2.json" --executor "$a_RPC" --executor "$b_RPC" --checkpoint-interval 200ms \
  --checkpoint-dir "$WORK/ck"
TECTL_PID=$SUBMIT_PID
wait_until 20 grep -q 'checkpoint 5 completed' "$WORK/tectl1.out" || { cat "$WORK/tectl1.out"; fail "checkpoint 5 never completed"; }
kill -9 "$TECTL_PID" "$a_PID" "$b_PID"
wait "$TECTL_PID" "$a_PID" "$b_PID" 2>/dev/null
grep -q ' FINISHED' "$WORK/tectl1.out" && fail "the first run finished before it was stopped (make N larger)"
JOB_ID=$(sed -n 's/^job \([0-9a-f]\{32\}\) .*/\1/p' "$WORK/tectl1.out" | head -1)
[ -n "$JOB_ID" ] || fail "no job id in the first run's output"

# tectl checkpoints: the retained ones (last 3), as a table and as JSON.
"$TECTL" checkpoints --checkpoint-dir "$WORK/ck" >"$WORK/list.txt" 2>&1 || { cat "$WORK/list.txt"; fail "tectl checkpoints failed"; }
cat "$WORK/list.txt"
"$TECTL" checkpoints --checkpoint-dir "$WORK/ck" --job "$JOB_ID" --json >"$WORK/list.json" || fail "tectl checkpoints --json failed"
n=$(json 'len(d["checkpoints"])' <"$WORK/list.json")
# Three retained; a kill -9 between a checkpoint's _metadata and the pruning of the
# oldest that follows it leaves a fourth (as a crashed Flink coordinator leaves one), and
# one more directory may hold a checkpoint in progress.
[ "$n" -ge 1 ] && [ "$n" -le 4 ] || fail "$n checkpoints retained, expected 1..3 (4 when killed while pruning)"
[ "$(ls -d "$WORK/ck/$JOB_ID"/chk-* | wc -l)" -le 5 ] || fail "old checkpoint directories not deleted: $(ls "$WORK/ck/$JOB_ID")"
json 'all(c["job_id"] == "'"$JOB_ID"'" and c["tasks"] == 4 for c in d["checkpoints"])' <"$WORK/list.json" | grep -q True \
  || fail "checkpoint list does not describe 4 task snapshots of job $JOB_ID"
latest=$(json 'max(c["checkpoint_id"] for c in d["checkpoints"])' <"$WORK/list.json")
prev=$(json 'sorted(c["checkpoint_id"] for c in d["checkpoints"])[-2] if len(d["checkpoints"]) > 1 else 0' <"$WORK/list.json")
[ "$prev" -gt 0 ] || fail "need two retained checkpoints"

# Corrupt the newest _metadata (truncated): it must be skipped with a warning.
md="$WORK/ck/$JOB_ID/chk-$latest/_metadata"
head -c "$(($(stat -c %s "$md") / 2))" "$md" >"$md.cut" && mv "$md.cut" "$md"
"$TECTL" checkpoints --checkpoint-dir "$WORK/ck" >/dev/null 2>"$WORK/list.err"
grep -q "chk-$latest/_metadata' is corrupt or truncated" "$WORK/list.err" || { cat "$WORK/list.err"; fail "no warning for the truncated _metadata"; }

# Every daemon restarted; resume with the counting vertex at parallelism 3.
start_daemon c -D taskmanager.numberOfTaskSlots=3
start_daemon d -D taskmanager.numberOfTaskSlots=3
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB_ID" "$WORK/job3.json" --executor "$c_RPC" --executor "$d_RPC" \
  --checkpoint-interval 200ms --timeout 60s >"$WORK/tectl2.out" 2>"$WORK/tectl2.err" \
  || { cat "$WORK/tectl2.out" "$WORK/tectl2.err"; fail "the restored run (parallelism 3) failed"; }
grep -q "resuming job $JOB_ID from checkpoint $prev " "$WORK/tectl2.out" || { head -3 "$WORK/tectl2.out"; fail "did not resume job $JOB_ID from checkpoint $prev"; }
grep -q "skipping checkpoint $latest" "$WORK/tectl2.err" || { cat "$WORK/tectl2.err"; fail "the truncated checkpoint $latest was not reported as skipped"; }
grep -q 'count (3/3) FINISHED' "$WORK/tectl2.out" || fail "the counting vertex did not run at parallelism 3"

seq 1 $N | awk '{ k = int(($1 + 512) / 1024); c[k]++; print k "\t" c[k] }' | sort >"$WORK/expected.txt"
cat "$WORK"/out/part-[0-9].txt "$WORK"/out/part-[0-9].txt.part-[0-9]* 2>/dev/null | sort >"$WORK/actual.txt"
# Final count per key = the largest update committed for it; the oracle's = its count.
awk -F'\t' '{ if ($2 > m[$1]) m[$1] = $2 } END { for (k in m) print k "\t" m[k] }' "$WORK/expected.txt" | sort >"$WORK/expected_final.txt"
awk -F'\t' '{ if ($2 + 0 > m[$1] + 0) m[$1] = $2 } END { for (k in m) print k "\t" m[k] }' "$WORK/actual.txt" | sort >"$WORK/actual_final.txt"
diff "$WORK/expected_final.txt" "$WORK/actual_final.txt" | head -10
cmp -s "$WORK/expected_final.txt" "$WORK/actual_final.txt" || fail "final counts after the restore at parallelism 3 differ from the oracle"
if ! cmp -s "$WORK/expected.txt" "$WORK/actual.txt"; then
  echo "lost: $(comm -23 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l), duplicated: $(comm -13 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l)"
  fail "the committed updates are not exactly once after the rescaled restore"
fi
echo "restored checkpoint $prev of job $JOB_ID at parallelism 3: $(wc -l <"$WORK/expected_final.txt") keys, counts equal the oracle"
