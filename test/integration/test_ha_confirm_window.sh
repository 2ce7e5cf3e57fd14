# High availability: the leader dies between a checkpoint's completion in etcd and its
# confirmation to the tasks — deterministically, not by a random kill. jm1 talks to etcd
# through etcd_cut_proxy.py, which passes its 3rd checkpoint-pointer txn to etcd and
# kill -9s jm1 as etcd's answer arrives: checkpoint N is completed (its pointer is in
# etcd) and no leader has confirmed it, so the two-phase-commit sinks hold N's output
# as pending files. The standby jm2 (talking to etcd directly) must lead, adopt the
# running tasks (nothing cancelled or deployed again) and confirm N itself: the sinks
# commit N's files before jm2's first checkpoint after N is written (file times). The
# committed output is `seq 0 TO` exactly once.
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
# the first checkpoint after N that jm2 completes, and when its _metadata was written
# (polled here: retention may delete its directory later)
python3 - "$WORK/ckpt/$job" "$N" "$WORK/next_meta" <<'PY' &
import os, re, sys, time
d, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
end = time.time() + 120
while time.time() < end:
    try:
        ks = sorted(int(m.group(1)) for m in (re.match(r"chk-(\d+)$", e) for e in os.listdir(d)) if m)
    except FileNotFoundError:
        ks = []
    for k in (k for k in ks if k > n):
        try:
            st = os.stat(os.path.join(d, "chk-%d" % k, "_metadata"))
        except FileNotFoundError:
            continue
        with open(out + ".tmp", "w") as f:
            f.write("%d %d\n" % (k, st.st_mtime_ns))
        os.rename(out + ".tmp", out)
        sys.exit(0)
    time.sleep(0.02)
PY
p0=$(parts 0) p1=$(parts 1)
ptr=$(etcd_get "/taskexecutord/cut-$$/checkpoints/$job" | json 'd["id"]')
[ "$ptr" = "$N" ] || fail "etcd's checkpoint pointer is '$ptr', the cut txn wrote $N"
echo "jm1 killed after etcd committed checkpoint $N's pointer, before it heard so (parts committed: $p0, $p1)"

wait_until $((TTL + 10)) leads jm2 || fail "jm2 did not take over"
adopted() { [ "$(job_field jm2 "$job" "d['adopted'], d['restarts']")" = "True 0" ]; }
wait_until 20 adopted || fail "jm2 did not adopt: $(job_field jm2 "$job" 'd["state"], d["adopted"], d["restarts"]')"
grep -q "confirming checkpoint $N, the latest completed, to the adopted tasks" "$jm2_LOG" ||
  fail "jm2 did not confirm checkpoint $N: $(grep -E "confirming|aborting|adopt" "$jm2_LOG" | tail -3)"
# N's pending files are committed by that confirmation, not by jm2's first checkpoint
# after N: the part each sink subtask commits next (its (p+1)-th) was renamed (ctime)
# before that checkpoint's _metadata was written (the JobMaster writes it before it
# confirms the checkpoint; the confirmation of N went to the tasks before its trigger).
wait_until 60 test -s "$WORK/next_meta" || fail "jm2 completed no checkpoint after $N"
read -r next meta_ns <"$WORK/next_meta"
wait_until 30 eval '[ "$(parts 0)" -gt "$p0" ] && [ "$(parts 1)" -gt "$p1" ]' ||
  fail "the sinks committed nothing after the failover (parts $p0 -> $(parts 0), $p1 -> $(parts 1))"
for s in 0 1; do
  p="p$s"
  part=$(find "$OUT" -name "part-$s.txt.part-*" | sort | sed -n "$((${!p} + 1))p")
  c=$(python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_ctime_ns)' "$part")
  [ "$c" -lt "$meta_ns" ] ||
    fail "sink $s committed $(basename "$part") $(((c - meta_ns) / 1000000)) ms after jm2's checkpoint $next was written: not on the confirmation of $N"
done
echo "both sinks committed checkpoint $N's part before jm2's checkpoint $next completed"
[ "$(ids jm2)" = "$ids0" ] || fail "execution ids changed: '$ids0' -> '$(ids jm2)'"

wait_until 120 job_in_state jm2 "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state jm2 "$job" FINISHED || fail "the job ended $(job_field jm2 "$job" 'd["state"], d["failure_cause"]')"
[ "$(cat "$te1_LOG" "$te2_LOG" | grep -c "deployed .* of job $job")" -eq 3 ] || fail "a task was deployed again"
expect_seq_once "$OUT" $TO
echo "checkpoint $N completed in etcd, unconfirmed at the kill: jm2 adopted and confirmed it; output exactly once"
