# Every JobManager of a high-availability pair kill -9'd (a real 3-member etcd cluster),
# two checkpointed jobs running; then one JobManager started again on its ports: it
# leads once the old leader's lease ended, recovers both jobs from etcd (their graphs,
# options, checkpoint pointers and last attempts). The tasks of job a still run: it is
# adopted (the same execution ids, no restart). Job b's tasks on one TaskExecutor were
# killed meanwhile (that TaskExecutor restarted): it cannot be adopted and restarts from
# its latest checkpoint (the other TaskExecutors' leftover tasks freed first). Both
# finish with committed output seq(1) exactly once (coreutils oracle).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_etcd_cluster 3
TTL=2
start_ha_pair alldown $TTL -D heartbeat.timeout=20s
start_ha_executors 3 -D heartbeat.timeout=20s
N=59999
jobs=()
for k in a b; do
  mkdir -p "$WORK/out-$k"
  seq_sink_job "ha-$k" $N 4000 "$WORK/out-$k" >"$WORK/job-$k.json"
  jobs+=("$("$TECTL" submit "$WORK/job-$k.json" --jobmanager "$jm1_REST" --checkpoint-interval 200ms --restart-attempts 3)") \
    || fail "submit failed"
done
for j in "${jobs[@]}"; do wait_until 30 job_checkpointed jm1 "$j" 2 || fail "job $j did not checkpoint"; done
ids() { job_field "$1" "$2" '" ".join(sorted(s["execution_id"] for v in d["vertices"] for s in v["subtasks"]))'; }
# Both jobs' execution ids, and a TaskExecutor running a task of job b but none of job a
# (restarted below: its tasks are gone).
IFS='|' read -r ids_a ids_b victim < <(python3 - "$(curl -s "$jm1_URL/v1/jobs/${jobs[0]}")" "$(curl -s "$jm1_URL/v1/jobs/${jobs[1]}")" <<'PY'
import json, sys
a, b = (json.loads(x)["vertices"] for x in sys.argv[1:3])
ids = [" ".join(sorted(s["execution_id"] for v in x for s in v["subtasks"])) for x in (a, b)]
ta, tb = (set(s["taskmanager"] for v in x for s in v["subtasks"]) for x in (a, b))
print("|".join(ids + [sorted(tb - ta)[0] if tb - ta else ""]))
PY
)
kill -9 "$jm1_PID" "$jm2_PID"
if [ -n "$victim" ]; then
  for t in te1 te2 te3; do
    r="${t}_RPC" p="${t}_PID"
    [ "${!r}" = "$victim" ] || continue
    kill -9 "${!p}"
    start_daemon "$t" -D jobmanager.address="$jm1_RPC,$jm2_RPC" -D taskmanager.numberOfTaskSlots=2 \
      -D heartbeat.interval=200ms -D cluster.registration.max-timeout=500ms -D heartbeat.timeout=20s
  done
fi
sleep 0.$((RANDOM % 5 + 1))
start_jobmanager jm3 "${jm1_PORTS[@]}" "${HA_ARGS[@]}"
wait_until $((TTL + 15)) leads jm3 || fail "the restarted JobManager did not become the leader"
grep -q "LEADER epoch=[0-9]* jobs_recovered=2" "$jm3_LOG" || fail "the restarted JobManager did not recover both jobs"
for k in 0 1; do
  j=${jobs[$k]}
  wait_until 90 job_in_state jm3 "$j" FINISHED FAILED CANCELED || fail "job $j did not end"
  job_in_state jm3 "$j" FINISHED || fail "job $j ended $(job_field jm3 "$j" 'd["state"], d["failure_cause"]')"
  grep -q "job $j (ha-[ab]) recovered from the job store: adopting the running tasks of attempt 0, or else: restarting from checkpoint" "$jm3_LOG" ||
    fail "job $j was not recovered from etcd"
done
[ "$(job_field jm3 "${jobs[0]}" 'd["adopted"]')" = True ] || fail "job a, whose tasks all ran, was not adopted"
[ "$(ids jm3 "${jobs[0]}")" = "$ids_a" ] || fail "job a's execution ids changed"
if [ -n "$victim" ]; then
  [ "$(job_field jm3 "${jobs[1]}" 'd["adopted"]')" = False ] || fail "job b was adopted although a task of it was gone"
  grep -q "job ${jobs[1]}: attempt 0 cannot be adopted" "$jm3_LOG" || fail "job b's adoption did not fail"
  [ "$(ids jm3 "${jobs[1]}")" != "$ids_b" ] || fail "job b was not redeployed"
else
  echo "(jobs a and b share their TaskExecutors: only adoption checked)"
fi
expect_seq_once "$WORK/out-a" $N
expect_seq_once "$WORK/out-b" $N
echo "both JobManagers killed; the restarted one led, adopted job a, restarted job b${victim:+ (a task of it was killed)}, output exactly once"
