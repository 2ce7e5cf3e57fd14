# Unaligned checkpoints (execution.checkpointing.unaligned.enabled), two daemons so the
# job has a local and a remote channel.
#
# 1. Backpressure: an unbounded sequence into a deliberately slow sink (the slow_sink
#    test plugin: 1 ms of sleep every 20 records, ~20k records/s per subtask, against a
#    source of millions). The same job runs for 5 s with aligned, then with
#    unaligned checkpoints every 200ms (both reported): the aligned barrier must wait
#    behind every queued buffer, so aligned checkpoints are slowed (few or none
#    complete in the window); unaligned barriers overtake the queued buffers, so
#    several complete, each holding in-flight data (both counts and medians are
#    printed; make bench compares the durations).
# 2. Restore: a keyed word count over both daemons with unaligned checkpoints every
#    30ms; a retained checkpoint holding in-flight channel state (checked by reading the
#    snapshot files independently) is resumed with --from-checkpoint and the committed
#    output equals the coreutils word count: the replayed in-flight records are neither
#    lost nor duplicated.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_daemon a -D taskmanager.numberOfTaskSlots=4 -D plugins.dir="$BUILD/plugins"
start_daemon b -D taskmanager.numberOfTaskSlots=4 -D plugins.dir="$BUILD/plugins"

# ---- 1. under backpressure ----
run_slow() { # $1 = true|false (unaligned); prints the completed checkpoints' durations in ms
  cat >"$WORK/slow-$1.json" <<JSON
{ "name": "slow-sink-$1",
  "config": { "execution.buffer-timeout": "10ms", "execution.checkpointing.unaligned.enabled": "$1" },
  "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "unbounded": "true" } ] },
    { "id": "sink", "parallelism": 2,
      "chain": [ { "op": "plugin", "library": "slow_sink.so", "every": "20", "sleep_us": "1000" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
  submit_bg "$WORK/slow-$1.out" "$WORK/slow-$1.json" --executor "$a_RPC" --executor "$b_RPC" \
    --checkpoint-interval 200ms --checkpoint-timeout 60s --checkpoint-dir "$WORK/chk-slow-$1"
  local pid=$SUBMIT_PID
  sleep 5
  kill -TERM $pid
  wait $pid
  local rc=$?
  [ "$rc" -eq 130 ] || { cat "$WORK/slow-$1.out"; fail "the slow-sink job (unaligned=$1) ended with $rc, not cancelled"; }
  wait_until 10 daemon_idle "$a_STATUS" || fail "slots or segments of a not released after the slow job"
  wait_until 10 daemon_idle "$b_STATUS" || fail "slots or segments of b not released after the slow job"
  sed -n 's/.*checkpoint [0-9]* completed in \([0-9]*\) ms.*/\1/p' "$WORK/slow-$1.out"
}
aligned=$(run_slow false)
unaligned=$(run_slow true)
n_al=$(echo -n "$aligned" | grep -c .)
n_un=$(echo -n "$unaligned" | grep -c .)
med() { sort -n | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "none"}'; }
med_al=$(echo -n "$aligned" | med)
med_un=$(echo -n "$unaligned" | med)
echo "under backpressure, 5 s with a checkpoint every 200ms: aligned $n_al completed (median $med_al ms)," \
  "unaligned $n_un completed (median $med_un ms)"
[ "$n_un" -ge 3 ] || { cat "$WORK/slow-true.out"; fail "unaligned checkpoints did not complete under backpressure"; }
# How much faster unaligned checkpoints are is make bench's figure (a comparison of
# durations fails on a loaded machine for no fault of the code); asserted here is what
# makes them unaligned: they complete under backpressure, holding in-flight data.
grep -qi "declining checkpoint" "$a_LOG" "$b_LOG" && fail "a task declined a checkpoint"
# what tectl reports per checkpoint: the alignment (aligned) and the in-flight data (unaligned)
grep 'completed in' "$WORK/slow-true.out" | tail -2
grep -q 'completed in .*in-flight [1-9]' "$WORK/slow-true.out" ||
  fail "no unaligned checkpoint reported persisted in-flight data"
grep 'completed in' "$WORK/slow-false.out" | tail -2
[ "$n_al" -eq 0 ] || grep -q 'completed in .*start delay [1-9][0-9][0-9]* ms' "$WORK/slow-false.out" ||
  fail "aligned checkpoints under backpressure reported no start delay (the barrier waiting behind data)"

# ---- 2. restore of in-flight data ----
mkdir -p "$WORK/out"
random_words_file "$WORK/in.txt" 11
wordcount_job checkpoint-unaligned "$WORK/in.txt" 1 2 2 '"execution.buffer-timeout": "10ms", "execution.checkpointing.unaligned.enabled": "true"' >"$WORK/job.json"
word_count_oracle "$WORK/in.txt" >"$WORK/expected.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"

"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" --checkpoint-interval 30ms \
  --checkpoint-dir "$WORK/chk" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "tectl submit failed"; }
grep -q "checkpoint [0-9]* completed" "$WORK/tectl.out" || { cat "$WORK/tectl.out"; fail "no checkpoint completed"; }
cat "$WORK"/out/part-*.txt.part-* | sort >"$WORK/actual.txt"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "committed output differs from coreutils"

# In-flight bytes per retained checkpoint, read from the snapshot files (format:
# lib/state/snapshot.h): section types 4 (input) and 5 (output channel).
python3 - "$WORK"/chk/*/chk-* >"$WORK/inflight.txt" <<'PY' || fail "reading the snapshot files failed"
import os, struct, sys
for d in sys.argv[1:]:
    total = 0
    for fn in os.listdir(d):
        if fn == "_metadata":
            continue
        b = open(os.path.join(d, fn), "rb").read()
        assert b[:4] == b"TECK", fn
        n = struct.unpack_from("<I", b, 36)[0]
        off = 44
        for _ in range(n):
            t, _i, _s, nl, dl = struct.unpack_from("<IIIIQ", b, off)
            off += 24 + nl + dl + 4
            if t in (4, 5):
                total += dl
        assert b[off:off + 4] == b"TEND", fn
    print(total, d)
PY
cat "$WORK/inflight.txt"
chk=$(sort -n "$WORK/inflight.txt" | tail -1 | awk '$1 > 0 {print $2}')
[ -n "$chk" ] || fail "no retained unaligned checkpoint holds in-flight channel state"
"$TECTL" submit --from-checkpoint "$chk" "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" \
  >"$WORK/tectl2.out" 2>&1 || { cat "$WORK/tectl2.out"; fail "resuming from $chk failed"; }
cat "$WORK"/out/part-*.txt.part-* | sort >"$WORK/actual2.txt"
diff -u "$WORK/expected.txt" "$WORK/actual2.txt" | head -10
cmp -s "$WORK/expected.txt" "$WORK/actual2.txt" ||
  fail "output after restoring the in-flight data of $chk differs from coreutils (lost or duplicated)"
wait_until 10 daemon_idle "$a_STATUS" || fail "slots or segments of a not released"
wait_until 10 daemon_idle "$b_STATUS" || fail "slots or segments of b not released"
echo "restore from $(basename "$chk") with $(sort -n "$WORK/inflight.txt" | tail -1 | cut -d' ' -f1) in-flight bytes matches coreutils"
