# Fencing on a real 3-member etcd cluster: the leader is frozen (SIGSTOP) longer than its
# lease TTL; the standby takes over with a higher epoch, the TaskExecutors (their
# heartbeats unanswered) register with it and the job goes on there. A call carrying the
# old epoch is refused by a TaskExecutor (STALE_EPOCH, a hand-written RPC client), one
# with the new epoch is not. SIGCONT: the old leader finds its lease gone, steps down and
# stands by (naming the new leader); the job finishes with its committed output seq(1)
# exactly once (coreutils oracle).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_etcd_cluster 3
TTL=2
start_ha_pair fencing $TTL -D heartbeat.timeout=4s
start_ha_executors 3 -D heartbeat.timeout=4s
epoch1=$(curl -s "$jm1_URL/v1/leader" | json 'd["epoch"]')
N=79999
mkdir -p "$WORK/out"
seq_sink_job ha-fencing $N 8000 "$WORK/out" >"$WORK/job.json"
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 200ms --restart-attempts 3) \
  || fail "submit failed"
wait_until 30 job_checkpointed jm1 "$job" 2 || fail "no checkpoints completed"

kill -STOP "$jm1_PID"
CLEANUP+=("kill -CONT $jm1_PID")
stopped=$(date +%s.%N)
wait_until $((TTL + 15)) leads jm2 || fail "the standby did not take over from the frozen leader"
echo "standby leads $(log_time_since "$jm2_LOG" "LEADER epoch=" "$stopped")s after SIGSTOP of the leader (TTL ${TTL}s)"
epoch2=$(curl -s "$jm2_URL/v1/leader" | json 'd["epoch"]')
[ "$epoch2" -gt "$epoch1" ] || fail "epoch $epoch2 is not above $epoch1"
wait_until 20 registered jm2 3 || fail "the TaskExecutors did not register with the new leader"

# A TaskExecutor refuses the old epoch and takes the new one.
python3 - "$te1_RPC" "$epoch1" "$epoch2" <<'PY' || fail "the TaskExecutor does not fence by epoch"
import sys; sys.path.insert(0, sys.path[0] or "test/integration")
import te_wire as w
s = w.connect(sys.argv[1])
body = w.field_bytes(1, bytes(16)) + w.field_varint(2, 1)  # TriggerCheckpoint of an unknown task
code, msg = w.call(s, 1, w.TRIGGER_CHECKPOINT, body, epoch=int(sys.argv[2]))
assert code == "STALE_EPOCH", (code, msg)
print("old epoch:", code, msg)
code, msg = w.call(s, 2, w.TRIGGER_CHECKPOINT, body, epoch=int(sys.argv[3]))
assert code == "UNKNOWN_TASK", (code, msg)
print("new epoch:", code)
PY

kill -CONT "$jm1_PID"
stepped_down() { grep -q "deposed (" "$jm1_LOG" && [ "$(grep -c ' READY ' "$jm1_LOG")" -ge 2 ]; }
wait_until 20 stepped_down || fail "the old leader did not step down after SIGCONT"
knows_new() { [ "$(curl -s "$jm1_URL/v1/leader" | json 'd["leader"] is False and d["current"]["epoch"]')" = "$epoch2" ]; }
wait_until 10 knows_new || fail "the old leader does not stand by under the new one: $(curl -s "$jm1_URL/v1/leader")"
leads jm2 || fail "the new leader lost its leadership"

wait_until 60 job_in_state jm2 "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state jm2 "$job" FINISHED || fail "the job ended $(job_field jm2 "$job" 'd["state"], d["failure_cause"]')"
expect_seq_once "$WORK/out" $N
refused=$(cat "$te1_LOG" "$te2_LOG" "$te3_LOG" | grep -c "STALE_EPOCH")
echo "fenced: epoch $epoch1 -> $epoch2, $refused call(s) of the old epoch refused, output exactly once"
