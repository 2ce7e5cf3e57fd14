# A full checkpoint disk (issue 19, item 1): state.checkpoints.dir is a small tmpfs
# filled to the last byte, so every task's snapshot write fails with ENOSPC and
# declines; the coordinator aborts each checkpoint and sends AbortCheckpoint to tasks
# that are aligning barriers. The job (the sequence 1..N rate-limited over ~6 s, hash
# partitioned into keyed_count emit=final + file_sink, parallelism 2/2) must keep
# running; once the filler file is removed, checkpoints complete again, and the job's
# committed output equals "k<TAB>1" for every k (seq + awk, the oracle). Needs root
# (mount); skips otherwise.
# The job tolerates any number of failed checkpoints
# (execution.checkpointing.tolerable-failed-checkpoints): they must not fail it over.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
[ "$(id -u)" = 0 ] || skip "needs root to mount a small tmpfs as the checkpoint directory"
FS="$WORK/chkfs"
mkdir -p "$FS"
mount -t tmpfs -o size=32m tmpfs "$FS" || skip "cannot mount a tmpfs here"
at_exit "umount '$FS'"
N=60000
start_daemon tm -D taskmanager.numberOfTaskSlots=4

cat >"$WORK/job.json" <<JSON
{ "name": "full-disk",
  "config": { "execution.buffer-timeout": "20ms", "execution.checkpointing.tolerable-failed-checkpoints": "1000000" },
  "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "from": "1", "to": "$N", "rate": "10000" } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "emit": "final" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
seq 1 "$N" | awk '{print $1 "\t1"}' | sort >"$WORK/expected.txt"

dd if=/dev/zero of="$FS/filler" bs=64k 2>/dev/null # until ENOSPC
df -h "$FS" | tail -1
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" --checkpoint-interval 100ms --checkpoint-timeout 5s \
  --checkpoint-dir "$FS/chk" --timeout 120s >"$WORK/tectl.out" 2>&1 &
TECTL_PID=$!
declines() { [ "$(grep -c 'aborted: declined' "$WORK/tectl.out")" -ge 3 ]; }
wait_until 60 declines || { cat "$WORK/tectl.out"; fail "no checkpoint was declined on the full disk"; }
kill -0 $TECTL_PID 2>/dev/null || fail "the job ended before the disk was freed: too fast to test"
grep -q 'completed in' "$WORK/tectl.out" && fail "a checkpoint completed on a full disk"
grep -q 'No space left on device' "$tm_LOG" || fail "the declines do not name ENOSPC"
before=$(grep -c 'aborted: declined' "$WORK/tectl.out")
rm -f "$FS/filler"
wait $TECTL_PID || { tail -30 "$WORK/tectl.out"; fail "the job did not finish after the disk was freed"; }
after=$(grep -c 'completed in' "$WORK/tectl.out")
[ "$after" -ge 1 ] || { tail -30 "$WORK/tectl.out"; fail "no checkpoint completed after the disk was freed"; }
committed_output "$WORK/out" | sort >"$WORK/actual.txt"
diff -u "$WORK/expected.txt" "$WORK/actual.txt" | head -5
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "committed output differs from the oracle"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the job"
echo "$before checkpoints declined on the full disk, then $after completed after freeing it; output exact"
