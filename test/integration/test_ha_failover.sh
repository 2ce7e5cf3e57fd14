# High availability on a real 3-member etcd cluster: two JobManagers (one leads, the
# other stands by: /v1/leader names the leader, other REST paths answer 307 to it,
# TaskExecutors are refused), three TaskExecutors listing both. kill -9 of the leader in
# the middle of a checkpointed job (a random moment): the standby leads once the old
# lease ends (the time is printed; make bench measures it), with a higher epoch; the
# TaskExecutors register with it and follow that epoch; the job goes on from its latest
# completed checkpoint (the pointer in etcd) and its committed output is seq(1) exactly
# once (coreutils oracle). Adoption of the running tasks is switched off here
# (high-availability.adoption-timeout=0): this covers the restart path a new leader
# takes when it cannot adopt (test_ha_adopt covers adoption). A savepoint taken before
# the kill is in the job's record in etcd and listed by the new leader.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_etcd_cluster 3
TTL=3
start_ha_pair failover $TTL -D heartbeat.timeout=10s -D high-availability.adoption-timeout=0
standby_knows() { [ "$(curl -s "$jm2_URL/v1/leader" | json 'd["current"]["rest_address"]')" = "$jm1_REST" ]; }
wait_until 10 standby_knows || fail "the standby does not name the leader: $(curl -s "$jm2_URL/v1/leader")"
leads jm2 && fail "two leaders"
epoch1=$(curl -s "$jm1_URL/v1/leader" | json 'd["epoch"]')
[ "$(etcd_get "/taskexecutord/failover-$$/leader" | json 'd["rest_address"]')" = "$jm1_REST" ] ||
  fail "the leader key in etcd does not name the leader"

# The standby redirects (307 + Location) and refuses TaskExecutors.
code=$(curl -s -o "$WORK/redirect.json" -w '%{http_code} %{redirect_url}' "$jm2_URL/v1/jobs?x=1")
[ "$code" = "307 http://$jm1_REST/v1/jobs?x=1" ] || fail "standby answered '$code': $(cat "$WORK/redirect.json")"
python3 - "$jm2_RPC" <<'PY' || fail "the standby did not refuse a TaskExecutor with NOT_LEADER"
import sys; sys.path.insert(0, sys.path[0] or "test/integration")
import te_wire as w
s = w.connect(sys.argv[1])
code, msg = w.call(s, 1, 22, w.field_bytes(1, "te-x") + w.field_bytes(2, "127.0.0.1:1") + w.field_bytes(3, "127.0.0.1:2") + w.field_bytes(5, b""))
assert code == "NOT_LEADER", (code, msg)
print("standby:", code, msg)
PY

start_ha_executors 3 -D heartbeat.timeout=10s
N=99999
mkdir -p "$WORK/out"
seq_sink_job ha-failover $N 5000 "$WORK/out" >"$WORK/job.json" # 20 s: still running at the kill on a loaded host
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 200ms --restart-attempts 3) \
  || fail "submit failed"
[ -n "$(etcd_get "/taskexecutord/failover-$$/jobs/$job")" ] || fail "the job is not in etcd"
"$TECTL" jobs --jobmanager "$jm2_REST" | grep -q "$job" || fail "tectl through the standby does not list the job"
wait_until 30 job_checkpointed jm1 "$job" 2 || fail "no checkpoints completed: $(job_field jm1 "$job" 'd["state"]')"
ptr=$(etcd_get "/taskexecutord/failover-$$/checkpoints/$job")
ptr_id=$(json 'd["id"]' <<<"$ptr")
[ "$ptr_id" -ge 1 ] && [ "$(json 'd["path"]' <<<"$ptr")" = "$WORK/ckpt/$job/chk-$ptr_id" ] ||
  fail "no checkpoint pointer in etcd: '$ptr'"
[ "$(etcd_get "/taskexecutord/failover-$$/checkpoint-counter/$job")" -ge "$ptr_id" ] || fail "no checkpoint counter in etcd"
# A savepoint's pointer goes to the job's record in etcd and survives the failover.
mkdir -p "$WORK/sp"
sp=$(curl -s -X POST -d "{\"dir\": \"$WORK/sp\"}" "$jm1_URL/v1/jobs/$job/savepoints" | json 'd["path"]') ||
  fail "the savepoint failed"
[ -f "$sp/_metadata" ] || fail "no _metadata in the savepoint $sp"
sp_in_etcd() { [ "$(etcd_get "/taskexecutord/failover-$$/jobs/$job" | json 'd["savepoints"][-1]["path"]')" = "$sp" ]; }
wait_until 10 sp_in_etcd || fail "the savepoint's pointer is not in the job's record in etcd"
sleep 0.$((RANDOM % 9 + 1))
kill -9 "$jm1_PID"
killed=$(date +%s.%N)
wait_until $((TTL + 10)) leads jm2 || fail "the standby did not take over: $(curl -s "$jm2_URL/v1/leader")"
took=$(log_time_since "$jm2_LOG" "LEADER epoch=" "$killed")
echo "standby leads ${took}s after kill -9 (lease TTL ${TTL}s; timed in make bench, not asserted here)"
epoch2=$(curl -s "$jm2_URL/v1/leader" | json 'd["epoch"]')
[ "$epoch2" -gt "$epoch1" ] || fail "the new epoch $epoch2 is not above $epoch1"
grep -q "LEADER epoch=$epoch2 jobs_recovered=1" "$jm2_LOG" || fail "the new leader did not recover the job"
grep -q "job $job (ha-failover) recovered from the job store: restarting from checkpoint" "$jm2_LOG" ||
  fail "the new leader did not restore the job from its checkpoint pointer"
wait_until 20 registered jm2 3 || fail "the TaskExecutors did not register with the new leader"
for t in te1 te2 te3; do
  log="${t}_LOG"
  grep -q "following JobManager epoch $epoch2" "${!log}" || fail "$t does not follow epoch $epoch2"
done
[ "$(job_field jm2 "$job" 'd["savepoints"][-1]["path"]')" = "$sp" ] ||
  fail "the new leader does not list the savepoint: $(job_field jm2 "$job" 'd["savepoints"]')"
wait_until 60 job_in_state jm2 "$job" FINISHED FAILED CANCELED || fail "the job did not end: $(job_field jm2 "$job" 'd["state"]')"
job_in_state jm2 "$job" FINISHED || fail "the job ended $(job_field jm2 "$job" 'd["state"], d["failure_cause"]')"
expect_seq_once "$WORK/out" $N
[ "$(etcd_get "/taskexecutord/failover-$$/jobs/$job" | json 'd["status"]')" = FINISHED ] ||
  fail "the job's record in etcd is not FINISHED"
echo "failover in ${took}s (epoch $epoch1 -> $epoch2), job finished, output exactly once, savepoint pointer kept"
