# A JobManager that stops heartbeating (tectl heartbeats every 30s, the daemon's
# heartbeat.timeout is 1s) loses its job: the tasks FAIL naming the heartbeat, the
# slots are freed, and tectl exits non-zero with the cause.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D heartbeat.timeout=1s
cat >"$WORK/job.json" <<'JSON'
{ "name": "silent-jm", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "unbounded": "true", "rate": "1000" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON
rc=0
timeout 60 "$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" --heartbeat-interval 30s >"$WORK/tectl.out" 2>&1 || rc=$?
cat "$WORK/tectl.out"
[ "$rc" != 0 ] || fail "tectl reported success"
grep -q "heartbeat" "$WORK/tectl.out" || fail "tectl does not show the heartbeat cause"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not freed after the heartbeat timeout"
grep -q "no heartbeat for" "$tm_LOG" || fail "daemon log does not name the heartbeat timeout"
