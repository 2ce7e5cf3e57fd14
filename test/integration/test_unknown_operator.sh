# A job naming an unknown operator is rejected with a message naming it before any of
# its tasks is deployed; the daemon keeps serving: a good job runs right after, and every slot is free again.
. "$(dirname "$0")/lib.sh"
start_daemon tm
cat >"$WORK/bad.json" <<'JSON'
{ "name": "bad", "vertices": [ { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "to": "10" }, { "op": "no_such_operator" } ] } ], "edges": [] }
JSON
if "$TECTL" submit "$WORK/bad.json" --executor "$tm_RPC" >"$WORK/bad.out" 2>&1; then
  cat "$WORK/bad.out"; fail "tectl accepted a job with an unknown operator"
fi
cat "$WORK/bad.out"
grep -q "no_such_operator" "$WORK/bad.out" || fail "the error does not name the operator"
grep -q "INVALID_CHAIN" "$WORK/bad.out" || fail "the error code is not INVALID_CHAIN"
# tectl checks every chain before it deploys anything: no slot was asked for, no task
# of the job was deployed
grep -q "allocated slot\|deployed" "$tm_LOG" && { cat "$tm_LOG"; fail "the daemon got slots or tasks of a job with an unknown operator"; }

# A bad parameter names the parameter.
cat >"$WORK/badparam.json" <<'JSON'
{ "name": "badparam", "vertices": [ { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "to": "ten" }, { "op": "discard" } ] } ], "edges": [] }
JSON
"$TECTL" submit "$WORK/badparam.json" --executor "$tm_RPC" >"$WORK/badparam.out" 2>&1 && fail "bad parameter accepted"
grep -q "'to'" "$WORK/badparam.out" || { cat "$WORK/badparam.out"; fail "the error does not name parameter 'to'"; }

wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not freed after the rejected job"
cat >"$WORK/good.json" <<JSON
{ "name": "good", "vertices": [ { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "1000" } ] },
  { "id": "sink", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/seq.txt" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "forward" } ] }
JSON
"$TECTL" submit "$WORK/good.json" --executor "$tm_RPC" >"$WORK/good.out" 2>&1 || { cat "$WORK/good.out"; fail "good job failed after a rejection"; }
seq 1 1000 | cmp -s - "$WORK/seq.txt" || fail "sequence output differs from seq 1 1000"
kill -0 "$tm_PID" || fail "daemon died"
