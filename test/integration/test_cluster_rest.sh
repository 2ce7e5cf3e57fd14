# The JobManager's REST contract (rest_contract.py: every endpoint, every error code,
# a 50 MB body and garbage refused while it serves on, 503 when the job store cannot be
# written and nothing half-created), tectl's messages for a refused job, /metrics by
# the Prometheus parser, and garbage on the RPC port.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
start_jobmanager jm
start_executor te1 jm -D taskmanager.numberOfTaskSlots=2
start_executor te2 jm -D taskmanager.numberOfTaskSlots=2
wait_until 10 registered jm 2 || fail "the TaskExecutors did not register"
mkdir -p "$WORK/out"
python3 "$HERE/rest_contract.py" "$jm_URL" "$WORK/jm-store" "$WORK/out" || fail "REST contract"

# tectl says the same of an invalid job in both modes (direct mode adds the file name).
echo '{ "name": "bad", "vertices": [ { "id": "a", "parallelism": 0, "chain": [ { "op": "discard" } ] } ] }' >"$WORK/bad.json"
rc=0; "$TECTL" submit "$WORK/bad.json" --jobmanager "$jm_REST" 2>"$WORK/bad.cluster" || rc=$?
[ "$rc" = 1 ] || fail "tectl submit of an invalid job to the JobManager: exit $rc"
rc=0; "$TECTL" submit "$WORK/bad.json" --executor "$te1_RPC" 2>"$WORK/bad.direct" || rc=$?
[ "$rc" = 1 ] || fail "tectl submit of an invalid job in direct mode: exit $rc"
sed "s|$WORK/bad.json: ||" "$WORK/bad.direct" | cmp -s - "$WORK/bad.cluster" \
  || { cat "$WORK/bad.direct" "$WORK/bad.cluster"; fail "the messages differ"; }
rc=0; "$TECTL" submit "$WORK/bad.json" --jobmanager 127.0.0.1:1 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "tectl submit to no JobManager: exit $rc, expected 3"
rc=0; "$TECTL" job 0123456789abcdef0123456789abcdef --jobmanager "$jm_REST" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "tectl job of an unknown job: exit $rc, expected 1"
rc=0; "$TECTL" submit "$WORK/bad.json" --jobmanager "$jm_REST" --executor "$te1_RPC" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--jobmanager with --executor: exit $rc, expected 2"

# Garbage on the RPC port: refused, registrations go on.
python3 - "${jm_RPC%:*}" "${jm_RPC##*:}" <<'PY' || fail "garbage on the RPC port"
import socket, sys
for data in [b"\x00\x00\x00\x05hello", b"\xff\xff\xff\xff" + b"x" * 100, b"\x00\x00\x00\x02\x08\x01"]:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(data)
    try:
        s.recv(1000)
    except OSError:
        pass
    s.close()
PY
wait_until 5 registered jm 2 || fail "the TaskExecutors lost their registration after garbage on the RPC port"

prom_python
curl -s "$jm_URL/metrics" >"$WORK/metrics.txt"
"$PROM_PY" "$HERE/prom_check.py" --jobmanager "$WORK/metrics.txt" 'te_jobmanager_taskexecutors=2' \
  'te_jobmanager_jobs{state="FINISHED"}=2' 'te_jobmanager_jobs{state="CANCELED"}=1' 'te_jobmanager_slots=4' \
  'te_jobmanager_slots_free=4' 'te_jobmanager_jobs_submitted_total=3' || fail "/metrics"
echo "REST contract, tectl messages, /metrics: as specified"
