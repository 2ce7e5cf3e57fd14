# A leader deposed while a checkpoint's _metadata write is in flight: the JobManager's
# fsync calls are delayed 1.5 s (strace's fault injection), its etcd lease is revoked
# (as an operator or a partition would end it) right after a checkpoint was triggered,
# and it starts over as a standby. The write that finishes during the teardown is not
# recorded in the freed job store (the JobManager used to crash there: a segmentation
# fault under load in test_ha_fencing). Being the only candidate it leads again,
# recovers the job from the checkpoints recorded in etcd, and the job finishes with its
# committed output seq(1) exactly once (coreutils oracle).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v strace >/dev/null || need_tool strace "strace: delays the JobManager's fsync calls"
start_etcd_cluster 1
ID="deposed-$$"
read -r -a P <<<"$(free_ports 2)" # fixed: the TaskExecutor finds it again after it started over
TE_DAEMON_WRAPPER="strace -f -qq -o /dev/null -e trace=fsync,fdatasync -e inject=fsync:delay_enter=1500000 \
  -e inject=fdatasync:delay_enter=1500000 ${TE_DAEMON_WRAPPER:-}" \
  start_jobmanager jm1 -D jobmanager.rpc.port="${P[0]}" -D jobmanager.rest.port="${P[1]}" \
  -D high-availability.type=etcd -D high-availability.etcd.endpoints="$ETCD_ENDPOINTS" \
  -D high-availability.cluster-id="$ID" -D high-availability.etcd.lease-ttl=2s -D state.checkpoints.dir="$WORK/ckpt" \
  -D heartbeat.timeout=20s
wait_until 20 leads jm1 || fail "the JobManager did not lead"
start_executor te1 jm1 -D taskmanager.numberOfTaskSlots=2 -D heartbeat.timeout=20s
wait_until 15 registered jm1 1 || fail "the TaskExecutor did not register"
N=59999
mkdir -p "$WORK/out"
seq_sink_job ha-deposed-write $N 4000 "$WORK/out" >"$WORK/job.json"
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 100ms --restart-attempts 3) \
  || fail "submit failed"
wait_until 60 job_checkpointed jm1 "$job" 1 || fail "no checkpoint completed"

# The next checkpoint's _metadata is being written (1.5 s per fsync): revoke the lease.
key=$(printf '/taskexecutord/%s/leader' "$ID" | base64 -w0)
sleep 0.4
lease=$(curl -s "${ETCD_URL[0]}/v3/kv/range" -d "{\"key\":\"$key\"}" | json 'd["kvs"][0]["lease"]') ||
  fail "no leader key in etcd"
curl -s "${ETCD_URL[0]}/v3/lease/revoke" -d "{\"ID\":\"$lease\"}" >/dev/null || fail "cannot revoke the lease"
stepped_down() { grep -q "deposed (" "$jm1_LOG" && [ "$(grep -c ' READY ' "$jm1_LOG")" -ge 2 ]; }
wait_until 30 stepped_down || fail "the deposed leader did not start over as a standby"
kill -0 "$jm1_PID" || fail "the JobManager died after it was deposed"
led_again() { sed -n '/starting over as a standby/,$p' "$jm1_LOG" | grep -q "LEADER epoch="; }
wait_until 30 led_again || fail "the JobManager did not lead again"
wait_until 120 job_in_state jm1 "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state jm1 "$job" FINISHED || fail "the job ended $(job_field jm1 "$job" 'd["state"], d["failure_cause"]')"
expect_seq_once "$WORK/out" $N
echo "deposed during a _metadata write: started over, led again, output exactly once"
