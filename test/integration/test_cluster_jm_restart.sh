# kill -9 of the JobManager in the middle of a checkpointed job, then a restart on the
# same ports and store: the TaskExecutors register again, their leftover tasks of the
# job are cancelled (every old task ended before any new one was deployed on any of
# them: no duplicate writers), the job is recovered from its latest completed checkpoint
# and finishes; the committed output equals seq(1) exactly once.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_restartable_cluster 2 10s

N=239999 # 20 s at 12000/s: still running when it is killed, even on a sanitizer build
mkdir -p "$WORK/out"
seq_sink_job recover-me $N 12000 "$WORK/out" >"$WORK/job.json"
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm_REST" --checkpoint-interval 200ms --restart-attempts 3) \
  || fail "submit failed"
wait_until 20 job_checkpointed jm "$job" 2 || fail "no checkpoints completed while running: $(job_field jm "$job" 'd["state"]')"
kill -9 "$jm_PID"
killed_at=$(date +%s.%N)
sleep 0.$((RANDOM % 5 + 3))
start_jobmanager jm2 "${JM_ARGS[@]}"
grep -q 'jobs_recovered=1' "$jm2_LOG" || fail "the restarted JobManager did not recover the job"
wait_until 60 job_in_state jm2 "$job" FINISHED FAILED CANCELED || fail "the recovered job did not end: $(job_field jm2 "$job" 'd')"
job_in_state jm2 "$job" FINISHED || fail "the recovered job ended $(job_field jm2 "$job" 'd["state"], d["failure_cause"]')"
[ "$(job_field jm2 "$job" 'd["recovered"]')" = True ] || fail "the job is not marked recovered"
grep -q "job $job (recover-me) recovered from the job store: restarting from checkpoint" "$jm2_LOG" \
  || fail "the job was not restored from a checkpoint"

expect_seq_once "$WORK/out" $N

# No duplicate writers: every task deployed before the kill (on any TaskExecutor) ended
# before the first task deployed after the restart.
python3 "$(dirname "$0")/old_tasks_ended_first.py" "$killed_at" "$WORK/te1.log" "$WORK/te2.log" ||
  fail "old and new tasks overlapped"
echo "the JobManager restarted, recovered the job from its checkpoint, output exactly once"
