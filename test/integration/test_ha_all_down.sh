# Every JobManager of a high-availability pair kill -9'd (a real 3-member etcd cluster),
# two checkpointed jobs running; then one JobManager started again on its ports: it
# leads once the old leader's lease ended, recovers both jobs from etcd (their graphs,
# options and checkpoint pointers; the TaskExecutors' leftover tasks are freed first)
# and both finish with committed output seq(1) exactly once (coreutils oracle).
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
  seq_sink_job "ha-$k" $N 6000 "$WORK/out-$k" >"$WORK/job-$k.json"
  jobs+=("$("$TECTL" submit "$WORK/job-$k.json" --jobmanager "$jm1_REST" --checkpoint-interval 200ms --restart-attempts 3)") \
    || fail "submit failed"
done
for j in "${jobs[@]}"; do wait_until 30 job_checkpointed jm1 "$j" 2 || fail "job $j did not checkpoint"; done
kill -9 "$jm1_PID" "$jm2_PID"
sleep 0.$((RANDOM % 5 + 1))
start_jobmanager jm3 "${jm1_PORTS[@]}" "${HA_ARGS[@]}"
wait_until $((TTL + 15)) leads jm3 || fail "the restarted JobManager did not become the leader"
grep -q "LEADER epoch=[0-9]* jobs_recovered=2" "$jm3_LOG" || fail "the restarted JobManager did not recover both jobs"
for k in 0 1; do
  j=${jobs[$k]}
  wait_until 90 job_in_state jm3 "$j" FINISHED FAILED CANCELED || fail "job $j did not end"
  job_in_state jm3 "$j" FINISHED || fail "job $j ended $(job_field jm3 "$j" 'd["state"], d["failure_cause"]')"
  grep -q "job $j (ha-[ab]) recovered from the job store: restarting from checkpoint" "$jm3_LOG" ||
    fail "job $j was not restored from its checkpoint"
done
expect_seq_once "$WORK/out-a" $N
expect_seq_once "$WORK/out-b" $N
echo "both JobManagers killed; the restarted one led, recovered both jobs from etcd, output exactly once"
