# An aligned checkpoint timing out under backpressure (issue 19, item 1): the sequence
# 1..N from two source subtasks, rebalanced into a deliberately slow map (the slow_sink
# test plugin with forward=true: 1 ms of sleep every 20 records), hash partitioned into
# keyed_count emit=final + file_sink, parallelism 2/2/2, with an aligned checkpoint
# every 50ms and a checkpoint timeout of 20ms. The barriers wait behind the slow maps'
# full input queues, so checkpoints expire while the count tasks align (the channel
# whose barrier came first blocked and filling, the other drained) and get the
# coordinator's AbortCheckpoint; before the fix both count tasks could sleep on their
# blocked channels, back-pressuring the maps into a deadlock (3 of 4 runs). The job
# must finish by itself (tectl --timeout 120s cancels a hung one and exits 1) and its
# committed output must be "k<TAB>1" for every k in 1..N (seq + awk, the oracle).
# The job tolerates any number of failed checkpoints
# (execution.checkpointing.tolerable-failed-checkpoints): they must not fail it over.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=150000
start_daemon tm -D taskmanager.numberOfTaskSlots=4 -D plugins.dir="$BUILD/plugins"
mkdir -p "$WORK/out"
cat >"$WORK/job.json" <<JSON
{ "name": "timeout-backpressure",
  "config": { "execution.buffer-timeout": "10ms", "execution.checkpointing.tolerable-failed-checkpoints": "1000000" },
  "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "from": "1", "to": "$N" } ] },
    { "id": "slow", "parallelism": 2,
      "chain": [ { "op": "plugin", "library": "slow_sink.so", "every": "20", "sleep_us": "1000", "forward": "true" } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "emit": "final" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "slow", "partitioner": "rebalance" },
             { "from": "slow", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
seq 1 "$N" | awk '{print $1 "\t1"}' | sort >"$WORK/expected.txt"
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" --checkpoint-interval 50ms --checkpoint-timeout 20ms \
  --checkpoint-dir "$WORK/chk" --timeout 120s >"$WORK/tectl.out" 2>&1 ||
  { tail -30 "$WORK/tectl.out"; fail "the job did not finish (a hung task is cancelled by --timeout)"; }
expired=$(grep -c 'aborted: not acknowledged' "$WORK/tectl.out")
[ "$expired" -ge 1 ] || { tail -30 "$WORK/tectl.out"; fail "no checkpoint timed out: the test did not exercise the abort"; }
committed_output "$WORK/out" | sort >"$WORK/actual.txt"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "committed output differs from seq 1 $N"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the job"
echo "$expired aligned checkpoints timed out under backpressure; the job finished with exact output"
