# execution.checkpointing.tolerable-failed-checkpoints (issue #19): after more than N
# consecutive failed checkpoints the job fails over (restarts from its latest completed
# checkpoint, or fails when no restart attempt is left); Flink's default N is 0.
# Every checkpoint fails here: the checkpoint directory is a regular file, so each
# task's snapshot write fails and the task declines (a decline counts, as in Flink).
#  1. default (0), --restart-attempts 2: the first declined checkpoint fails the job
#     over, twice restarted, then failed: "Exceeded checkpoint tolerable failure threshold".
#  2. tolerable 2, no restarts: exactly three checkpoints are aborted, then the job fails.
#  3. tolerable 1000: the job is never failed over; it finishes and its output (the
#     file sink commits at the end of the bounded input) equals seq(1).
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2
: >"$WORK/notadir" # a file where the checkpoint directory should be
job() { # $1 name, $2 tolerable ("" = unset), $3 records
  local cfg=""
  [ -n "$2" ] && cfg="\"execution.checkpointing.tolerable-failed-checkpoints\": $2"
  cat >"$WORK/$1.json" <<JSON
{ "name": "$1", "config": { $cfg },
  "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": $3, "rate": 10000 } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/out-$1/part.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON
}
submit() { # $1 name, then tectl options; sets rc
  rc=0
  "$TECTL" submit "$WORK/$1.json" --executor "$tm_RPC" --checkpoint-interval 100ms --checkpoint-dir "$WORK/notadir" \
    "${@:2}" >"$WORK/$1.out" 2>"$WORK/$1.err" || rc=$?
}

# 1. The default: fail over at once.
job default "" 50000
submit default --restart-attempts 2 --restart-backoff 100ms
cat "$WORK/default.out" "$WORK/default.err"
[ "$rc" = 1 ] || fail "default: exit $rc, expected 1 (failed after its restarts)"
grep -q 'checkpoint [0-9]* aborted: .*Not a directory' "$WORK/default.out" || fail "default: no aborted checkpoint naming the cause"
[ "$(grep -c 'Exceeded checkpoint tolerable failure threshold; restarting' "$WORK/default.out")" = 2 ] \
  || fail "default: not restarted twice for exceeding the tolerable failures"
grep -q 'job failed: Exceeded checkpoint tolerable failure threshold (after 2 restart(s) of 2)' "$WORK/default.err" \
  || fail "default: the failure does not name the threshold"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not freed after the failed-over job"

# 2. Two tolerated: the third failure in a row fails the job.
job two 2 50000
submit two
cat "$WORK/two.out" "$WORK/two.err"
[ "$rc" = 1 ] || fail "tolerable 2: exit $rc, expected 1"
[ "$(grep -c 'checkpoint [0-9]* aborted' "$WORK/two.out")" = 3 ] || fail "tolerable 2: not exactly 3 aborted checkpoints"
grep -q 'more than execution.checkpointing.tolerable-failed-checkpoints = 2 consecutive' "$WORK/two.err" \
  || fail "tolerable 2: the failover does not name the key"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not freed"

# 3. Many tolerated: the job finishes, its output is complete.
job many 1000 20000
submit many
cat "$WORK/many.err"
[ "$rc" = 0 ] || { cat "$WORK/many.out"; fail "tolerable 1000: exit $rc, expected 0"; }
grep -q 'checkpoint [0-9]* aborted' "$WORK/many.out" || fail "tolerable 1000: no checkpoint failed (the test proves nothing)"
grep -q 'restarting' "$WORK/many.out" && fail "tolerable 1000: the job was failed over"
[ "$(cat "$WORK"/out-many/part.txt* | sort -n | md5sum)" = "$(seq 1 20000 | md5sum)" ] || fail "tolerable 1000: output differs from seq"
echo "tolerable failed checkpoints: default fails over at once, 2 tolerated then failed, 1000 tolerated and exact"
