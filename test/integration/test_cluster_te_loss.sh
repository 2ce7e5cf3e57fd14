# TaskExecutor loss in cluster mode: three TaskExecutors, a job checkpointing every
# 200 ms, one of the TaskExecutors running it killed with kill -9 at a random moment
# (three runs, each with its own seed): the JobManager restarts the job from its latest
# completed checkpoint on the others, and the committed output equals seq(1) exactly
# once. A replacement TaskExecutor registers before the next run.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_jobmanager jm
for i in 1 2 3; do start_executor "te$i" jm -D taskmanager.numberOfTaskSlots=2; done
wait_until 10 registered jm 3 || fail "the TaskExecutors did not register"
declare -A te_pid=([te1]=$te1_PID [te2]=$te2_PID [te3]=$te3_PID)
declare -A te_rpc=([te1]=$te1_RPC [te2]=$te2_RPC [te3]=$te3_RPC)
N=79999
next=4
for seed in 11 23 37; do
  RANDOM=$seed
  out="$WORK/out-$seed"
  mkdir -p "$out"
  seq_sink_job "te-loss-$seed" $N 10000 "$out" >"$WORK/job-$seed.json"
  job=$("$TECTL" submit "$WORK/job-$seed.json" --jobmanager "$jm_REST" --checkpoint-interval 200ms \
        --restart-attempts 5 --restart-backoff 100ms) || fail "submit failed"
  # once it runs and checkpointed: one of the TaskExecutors it runs on, chosen by the seed
  pick=$RANDOM
  victim_of() {
    victim_rpc=$(job_field jm "$job" "d['state'] == 'RUNNING' and d['checkpoints']['completed'] >= 1 and
                 sorted(set(s['taskmanager'] for v in d['vertices'] for s in v['subtasks']))[$pick % 2] or ''")
    [ -n "$victim_rpc" ]
  }
  wait_until 20 victim_of || fail "run $seed: no checkpoint while running"
  sleep "0.$((RANDOM % 9))"
  victim=
  for t in "${!te_rpc[@]}"; do [ "${te_rpc[$t]}" = "$victim_rpc" ] && victim=$t; done
  [ -n "$victim" ] || fail "run $seed: the job's TaskExecutor $victim_rpc is not one of ours"
  kill -9 "${te_pid[$victim]}"
  unset "te_pid[$victim]" "te_rpc[$victim]"
  wait_until 60 job_in_state jm "$job" FINISHED FAILED CANCELED || fail "run $seed: the job did not end"
  job_in_state jm "$job" FINISHED || fail "run $seed: the job ended $(job_field jm "$job" 'd["state"], d["failure_cause"]')"
  restarts=$(job_field jm "$job" 'd["restarts"]')
  [ "$restarts" -ge 1 ] || fail "run $seed: the job did not restart after losing $victim"
  committed_lines "$out" | sort -n >"$WORK/actual-$seed.txt"
  seq 0 $N | cmp -s - "$WORK/actual-$seed.txt" || {
    echo "missing: $(seq 0 $N | comm -23 - "$WORK/actual-$seed.txt" | wc -l), duplicates: $(uniq -d "$WORK/actual-$seed.txt" | wc -l)"
    fail "run $seed: committed output is not seq 0 $N exactly once"; }
  curl -s "$jm_URL/v1/jobs/$job/events?since=0" | python3 -c '
import json, sys
ev = json.load(sys.stdin)["events"]
r = [e for e in ev if e["event"] == "restart"]
assert r and all(e["checkpoint_id"] for e in r), "a restart did not restore a checkpoint: %r" % r' \
    || fail "run $seed: not restored from a checkpoint"
  echo "run $seed: lost $victim, $restarts restart(s), output exactly once"
  start_executor "te$next" jm -D taskmanager.numberOfTaskSlots=2
  te_pid[te$next]=$(eval echo "\$te${next}_PID"); te_rpc[te$next]=$(eval echo "\$te${next}_RPC")
  next=$((next + 1))
  wait_until 10 registered jm 3 || fail "the replacement TaskExecutor did not register"
done
echo "three TaskExecutor losses, each restarted from a checkpoint with exactly-once output"
