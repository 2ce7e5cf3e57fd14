# A checkpoint whose state cannot be read (issue #19): a keyed count (sequence 1..N
# rate-limited, keyed by round(n / 1024), keyed_count emit=final -> file_sink) runs
# with checkpoints until several completed, then tectl and both daemons are kill -9'ed.
#  - _metadata carries a checksum: a copy of the checkpoint directory whose newest
#    _metadata has one digit changed (still valid JSON) is listed without it, with a
#    warning naming the file.
#  - One snapshot file of the counting vertex in the newest checkpoint L gets a byte
#    flipped. Resuming from chk-L named explicitly fails (no fallback, no retry);
#    resuming from the job directory falls back to the previous checkpoint P with a
#    warning and the job finishes with final counts equal to the seq + awk oracle
#    (before, every attempt failed on L).
#  - No aborted chk-* directory is left in the job directory afterwards.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=200000
RATE=40000 # about 5 s at full length
start_daemon a -D taskmanager.numberOfTaskSlots=2
start_daemon b -D taskmanager.numberOfTaskSlots=2
mkdir -p "$WORK/out"
cat >"$WORK/job.json" <<JSON
{ "name": "keyed-count-corrupt", "config": { "execution.buffer-timeout": "5ms" },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 1, "to": $N, "rate": $RATE },
                                                { "op": "scale", "field": 0, "factor": 0.0009765625 } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "emit": "final" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" --checkpoint-interval 200ms \
  --checkpoint-dir "$WORK/ck" >"$WORK/tectl1.out" 2>&1 &
TECTL_PID=$!
wait_until 20 grep -q 'checkpoint 4 completed' "$WORK/tectl1.out" || { cat "$WORK/tectl1.out"; fail "checkpoint 4 never completed"; }
kill -9 "$TECTL_PID" "$a_PID" "$b_PID"
wait "$TECTL_PID" "$a_PID" "$b_PID" 2>/dev/null
grep -q ' FINISHED' "$WORK/tectl1.out" && fail "the first run finished before it was stopped (make N larger)"
JOB_ID=$(sed -n 's/^job \([0-9a-f]\{32\}\) .*/\1/p' "$WORK/tectl1.out" | head -1)
"$TECTL" checkpoints --checkpoint-dir "$WORK/ck" --job "$JOB_ID" --json >"$WORK/list.json" || fail "tectl checkpoints failed"
latest=$(json 'max(c["checkpoint_id"] for c in d["checkpoints"])' <"$WORK/list.json")
prev=$(json 'sorted(c["checkpoint_id"] for c in d["checkpoints"])[-2]' <"$WORK/list.json")
[ "$prev" -gt 0 ] || fail "need two retained checkpoints"

# 1. A changed _metadata (valid JSON, one digit different) fails its checksum.
cp -a "$WORK/ck" "$WORK/ck2"
sed -i 's/"duration_ms": \([0-9]\)/"duration_ms": 9\1/' "$WORK/ck2/$JOB_ID/chk-$latest/_metadata"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/ck2/$JOB_ID/chk-$latest/_metadata" || fail "the edit broke the JSON"
"$TECTL" checkpoints --checkpoint-dir "$WORK/ck2" --json >"$WORK/list2.json" 2>"$WORK/list2.err" || fail "tectl checkpoints (ck2) failed"
grep -q "chk-$latest/_metadata' is corrupt: its checksum does not match" "$WORK/list2.err" || { cat "$WORK/list2.err"; fail "no checksum warning"; }
[ "$(json "sorted(c['checkpoint_id'] for c in d['checkpoints'])[-1]" <"$WORK/list2.json")" = "$prev" ] \
  || fail "the changed checkpoint $latest is still listed"

# 2. Flip a byte in the middle of one snapshot of the counting vertex in chk-L.
snap=$(json '[h["path"] for v in d["vertices"] if v["id"] == "count" for h in v["handles"]][0]' <"$WORK/ck/$JOB_ID/chk-$latest/_metadata")
[ -f "$snap" ] || fail "snapshot $snap not found"
python3 - "$snap" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); i = len(b) // 2; b[i] ^= 0xff
open(p, "wb").write(b)
PY
start_daemon c -D taskmanager.numberOfTaskSlots=2
start_daemon d -D taskmanager.numberOfTaskSlots=2
# Named explicitly: no fallback, no restart on the same state.
rc=0
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB_ID/chk-$latest" "$WORK/job.json" --executor "$c_RPC" --executor "$d_RPC" \
  --restart-attempts 3 --restart-backoff 100ms --timeout 60s >"$WORK/explicit.out" 2>"$WORK/explicit.err" || rc=$?
cat "$WORK/explicit.out" "$WORK/explicit.err"
[ "$rc" = 1 ] || fail "resume from the corrupt chk-$latest named explicitly: exit $rc, expected 1"
grep -q 'corrupt' "$WORK/explicit.err" || fail "the failure does not say the snapshot is corrupt"
grep -q 'named explicitly' "$WORK/explicit.err" || fail "no word that the named checkpoint is not fallen back from"
grep -q 'falling back to\|restarting' "$WORK/explicit.out" "$WORK/explicit.err" && fail "restarted or fell back from a named checkpoint"
wait_until 10 daemon_idle "$c_STATUS" || fail "slots of c not freed"
wait_until 10 daemon_idle "$d_STATUS" || fail "slots of d not freed"

# The job directory: fall back to P, finish, exact final counts.
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB_ID" "$WORK/job.json" --executor "$c_RPC" --executor "$d_RPC" \
  --checkpoint-interval 200ms --timeout 60s >"$WORK/tectl2.out" 2>"$WORK/tectl2.err" \
  || { cat "$WORK/tectl2.out" "$WORK/tectl2.err"; fail "the resumed run did not fall back and finish"; }
cat "$WORK/tectl2.err"
grep -q "resuming job $JOB_ID from checkpoint $latest " "$WORK/tectl2.out" || fail "did not start from checkpoint $latest"
grep -q "warning: checkpoint $latest cannot be restored (.*): falling back to checkpoint $prev" "$WORK/tectl2.err" \
  || fail "no warning naming the fallback from $latest to $prev"
seq 1 $N | awk '{ c[int(($1 + 512) / 1024)]++ } END { for (k in c) print k "\t" c[k] }' | sort >"$WORK/expected.txt"
cat "$WORK"/out/part-[0-9].txt "$WORK"/out/part-[0-9].txt.part-[0-9]* 2>/dev/null | sort >"$WORK/actual.txt"
diff "$WORK/expected.txt" "$WORK/actual.txt" | head -5
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "final counts after the fallback differ from the oracle"
# Every chk-* left has a _metadata (no aborted or abandoned directory).
for d in "$WORK/ck/$JOB_ID"/chk-*; do
  [ -f "$d/_metadata" ] || fail "$(basename "$d") has no _metadata: an aborted checkpoint directory was left"
done
echo "checkpoint $latest unreadable: named -> failed at once; job directory -> fell back to $prev, counts exact"
