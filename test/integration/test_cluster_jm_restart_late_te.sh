# A JobManager restarted while a TaskExecutor of the job's last attempt cannot answer
# (SIGSTOP: its old tasks still exist) must not place the recovered job elsewhere until
# that TaskExecutor registered again and its leftover tasks were cancelled (or until
# heartbeat.timeout, when it has failed them itself): otherwise the old tasks resume
# beside the new attempt — duplicate writers. te1 alone has slots enough for the job, so
# only that wait keeps the new attempt back. The job's store record names the
# TaskExecutors of its last attempt; while it waits, the job view says for which one.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_restartable_cluster 4 20s

N=199999 # 20 s at 10000/s
mkdir -p "$WORK/out"
seq_sink_job late-te $N 10000 "$WORK/out" >"$WORK/job.json"
# spread: the source and the two sinks land on both TaskExecutors
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm_REST" --checkpoint-interval 200ms --restart-attempts 3) ||
  fail "submit failed"
wait_until 20 job_checkpointed jm "$job" 2 || fail "no checkpoints completed: $(job_field jm "$job" 'd["state"]')"
grep -q "deployed .* of job $job" "$te2_LOG" || fail "te2 runs no task of the job: the test needs one there"
kill -STOP "$te2_PID"
at_exit "kill -CONT $te2_PID 2>/dev/null"
kill -9 "$jm_PID"
killed_at=$(date +%s.%N)
start_jobmanager jm2 "${JM_ARGS[@]}"
grep -q 'jobs_recovered=1' "$jm2_LOG" || fail "the restarted JobManager did not recover the job"
waits_for_te2() { job_field jm2 "$job" 'd.get("waiting_reason") or ""' | grep -q "TaskExecutor ${te2_RPC}, which ran the job's last attempt"; }
wait_until 10 waits_for_te2 || fail "the recovered job does not wait for te2: $(job_field jm2 "$job" 'd["state"], d.get("waiting_reason")')"
sleep 3 # te1 has the slots: without the wait the job would be deployed there by now
waits_for_te2 || fail "the job stopped waiting for te2 while te2 was stopped: $(job_field jm2 "$job" 'd["state"], d.get("waiting_reason")')"
kill -CONT "$te2_PID"
wait_until 60 job_in_state jm2 "$job" FINISHED FAILED CANCELED || fail "the recovered job did not end: $(job_field jm2 "$job" 'd')"
job_in_state jm2 "$job" FINISHED || fail "the recovered job ended $(job_field jm2 "$job" 'd["state"], d["failure_cause"]')"
expect_seq_once "$WORK/out" $N
python3 "$(dirname "$0")/old_tasks_ended_first.py" "$killed_at" "$te1_LOG" "$te2_LOG" ||
  fail "old and new tasks overlapped"
echo "the recovered job waited for te2 (stopped), whose old tasks were cancelled first; output exactly once"
