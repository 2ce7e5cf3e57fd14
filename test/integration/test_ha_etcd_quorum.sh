# etcd failures under a running job (a real 3-member etcd cluster): one member killed ->
# nothing visible happens (the same leader, no restart, checkpoints still complete);
# a second one killed -> no quorum: the leader steps down (it cannot renew its lease)
# while the tasks keep running on the TaskExecutors; both members back -> a leader is
# elected, adopts the job's tasks (they ran on, or finished, meanwhile: no restart), and
# the job finishes with its committed output seq(1) exactly once (coreutils oracle).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_etcd_cluster 3
TTL=5 # the default: an etcd leader election (killing its leader) fits well inside it
start_ha_pair quorum $TTL -D high-availability.etcd.request-timeout=1s -D heartbeat.timeout=60s
start_ha_executors 2 -D heartbeat.timeout=60s

N=199999 # 40 s: still running when quorum is lost on a loaded host
mkdir -p "$WORK/out"
seq_sink_job ha-quorum $N 5000 "$WORK/out" >"$WORK/job.json"
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 300ms --restart-attempts 3) \
  || fail "submit failed"
completed() { job_field jm1 "$job" 'd["checkpoints"]["completed"]'; }
wait_until 30 job_checkpointed jm1 "$job" 2 || fail "no checkpoints completed"

# One member down: nothing visible.
etcd_kill 0
before=$(completed)
wait_until 30 job_checkpointed jm1 "$job" $((before + 5)) || fail "checkpoints stopped completing with one etcd member down"
sleep $((TTL + 1))
leads jm1 || fail "the leader lost its leadership with one etcd member down"
grep -q "deposed" "$jm1_LOG" && fail "the leader stepped down with one etcd member down"
[ "$(job_field jm1 "$job" 'd["restarts"]')" = 0 ] || fail "the job restarted with one etcd member down"

# Two down: no quorum; the leader steps down, the tasks keep running.
etcd_kill 1
lost_at=$(date +%s.%N)
wait_until $((TTL + 10)) grep -q "deposed (" "$jm1_LOG" || fail "the leader did not step down without quorum"
echo "the leader stepped down $(log_time_since "$jm1_LOG" "deposed \(" "$lost_at")s after quorum was lost (TTL ${TTL}s)"
leads jm1 && fail "jm1 still claims to lead without quorum"
leads jm2 && fail "jm2 leads without quorum"
running=$(( $(running_tasks "$te1_STATUS") + $(running_tasks "$te2_STATUS") ))
[ "$running" = 3 ] || fail "the job's tasks did not keep running without a leader ($running of 3)"

# Quorum back: a leader again, the job goes on.
etcd_start_member 0
etcd_start_member 1
anyone_leads() { leads jm1 || leads jm2; }
wait_until 40 anyone_leads || fail "no leader was elected once quorum returned"
leader=jm1; leads jm2 && leader=jm2
echo "$leader leads again"
wait_until 90 job_in_state "$leader" "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state "$leader" "$job" FINISHED || fail "the job ended $(job_field "$leader" "$job" 'd["state"], d["failure_cause"]')"
[ "$(job_field "$leader" "$job" 'd["adopted"] and d["restarts"] == 0')" = True ] ||
  fail "the new leader did not adopt the job's tasks: $(grep -E "adopt" "$(eval echo "\$${leader}_LOG")" | tail -2)"
expect_seq_once "$WORK/out" $N
echo "one etcd member down: nothing; two: the leader stepped down, tasks ran on; quorum back: $leader led, output exactly once"
