# High availability: the leader dies between a checkpoint's completion in etcd and its
# confirmation to the tasks — deterministically, not by a random kill. jm1 talks to etcd
# through etcd_cut_proxy.py, which passes its 3rd checkpoint-pointer txn to etcd and
# kill -9s jm1 as etcd's answer arrives: checkpoint N is completed (its pointer is in
# etcd) and no leader has confirmed it, so the two-phase-commit sinks hold N's output
# as pending files. The standby jm2 (talking to etcd directly) must lead, adopt the
# running tasks (nothing cancelled or deployed again) and confirm N itself: the sinks
# commit N's files before any checkpoint of jm2's own completes. The committed output is
# `seq 0 TO` exactly once.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
start_etcd_cluster 1
TTL=2
TO=39999 # 20 s at RATE: the cut comes after ~6 s, the failover takes TTL + ~1 s
RATE=2000
daemon_instrumented && TO=79999
OUT="$WORK/out"
mkdir -p "$OUT"

python3 "$HERE/etcd_cut_proxy.py" "$WORK/proxy.port" "${ETCD_URL[0]#http://}" "$WORK/jm1.pid" 3 "$WORK/cut" \
  >"$WORK/proxy.log" 2>&1 &
proxy=$!
CLEANUP+=("kill $proxy")
wait_until 10 test -s "$WORK/proxy.port" || fail "the proxy did not start: $(cat "$WORK/proxy.log")"
read -r -a p <<<"$(free_ports 4)"
ha=(-D high-availability.type=etcd -D high-availability.cluster-id="cut-$$" -D high-availability.etcd.lease-ttl="${TTL}s"
    -D state.checkpoints.dir="$WORK/ckpt" -D heartbeat.timeout=20s)
start_jobmanager jm1 -D jobmanager.rpc.port="${p[0]}" -D jobmanager.rest.port="${p[1]}" "${ha[@]}" \
  -D high-availability.etcd.endpoints="http://127.0.0.1:$(cat "$WORK/proxy.port")"
echo "$jm1_PID" >"$WORK/jm1.pid"
wait_until 10 leads jm1 || fail "jm1 did not lead: $(curl -s "$jm1_URL/v1/leader")"
# (log.level debug: the JobMaster's own lines, the confirmation among them)
start_jobmanager jm2 -D jobmanager.rpc.port="${p[2]}" -D jobmanager.rest.port="${p[3]}" "${ha[@]}" \
  -D high-availability.etcd.endpoints="$ETCD_ENDPOINTS" -D log.level=debug
start_ha_executors 2 -D heartbeat.timeout=20s

seq_sink_job confirm-window $TO $RATE "$OUT" >"$WORK/job.json"
# checkpoints every 2 s: jm2's first own checkpoint comes well after its confirmation of N
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 2s) || fail "submit failed"
ids() { job_field "$1" "$job" '" ".join(sorted(s["execution_id"] for v in d["vertices"] for s in v["subtasks"]))'; }
wait_until 20 job_tasks_running jm1 "$job" 3 || fail "the job did not start"
ids0=$(ids jm1)

wait_until 60 test -s "$WORK/cut" || fail "no third checkpoint pointer reached etcd: $(cat "$WORK/proxy.log")"
N=$(cat "$WORK/cut")
wait_until 5 eval '! kill -0 "$jm1_PID" 2>/dev/null' || fail "jm1 still runs after the cut"
parts() { find "$OUT" -name "part-$1.txt.part-*" | wc -l; }
p0=$(parts 0) p1=$(parts 1)
ptr=$(etcd_get "/taskexecutord/cut-$$/checkpoints/$job" | json 'd["id"]')
[ "$ptr" = "$N" ] || fail "etcd's checkpoint pointer is '$ptr', the cut txn wrote $N"
echo "jm1 killed after etcd committed checkpoint $N's pointer, before it heard so (parts committed: $p0, $p1)"

wait_until $((TTL + 10)) leads jm2 || fail "jm2 did not take over"
adopted() { [ "$(job_field jm2 "$job" "d['adopted'], d['restarts']")" = "True 0" ]; }
wait_until 20 adopted || fail "jm2 did not adopt: $(job_field jm2 "$job" 'd["state"], d["adopted"], d["restarts"]')"
grep -q "confirming checkpoint $N, the latest completed, to the adopted tasks" "$jm2_LOG" ||
  fail "jm2 did not confirm checkpoint $N: $(grep -E "confirming|aborting|adopt" "$jm2_LOG" | tail -3)"
# N's pending files are committed by that confirmation, not by a later checkpoint of
# jm2: the parts are counted first, then jm2 must still have completed nothing after N
# (the JobMaster shows a completed checkpoint before it confirms it).
own_none() { [ "$(job_field jm2 "$job" "(d['last_checkpoint'] or {}).get('id', 0) <= $N")" = True ]; }
committed_n() { [ "$(parts 0)" -gt "$p0" ] && [ "$(parts 1)" -gt "$p1" ] && own_none; }
wait_until 10 committed_n || fail "checkpoint $N's output was not committed on jm2's confirmation (parts $p0 -> $(parts 0), $p1 -> $(parts 1); jm2's last checkpoint $(job_field jm2 "$job" 'd["last_checkpoint"]'))"
[ "$(ids jm2)" = "$ids0" ] || fail "execution ids changed: '$ids0' -> '$(ids jm2)'"

wait_until 120 job_in_state jm2 "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state jm2 "$job" FINISHED || fail "the job ended $(job_field jm2 "$job" 'd["state"], d["failure_cause"]')"
[ "$(cat "$te1_LOG" "$te2_LOG" | grep -c "deployed .* of job $job")" -eq 3 ] || fail "a task was deployed again"
expect_seq_once "$OUT" $TO
echo "checkpoint $N completed in etcd, unconfirmed at the kill: jm2 adopted and confirmed it; output exactly once"
