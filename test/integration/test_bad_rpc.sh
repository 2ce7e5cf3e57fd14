# Bad RPC input (random bytes, an oversized length, a valid frame of garbage protobuf,
# SubmitTask for an unknown allocation, wrong fencing token, unknown job, empty call,
# connections opened and dropped): each gets an error reply or a closed connection,
# and the daemon serves the next client.
. "$(dirname "$0")/lib.sh"
start_daemon tm
python3 "$(dirname "$0")/bad_rpc.py" "$tm_RPC" || fail "bad RPC input check failed"
kill -0 "$tm_PID" || fail "daemon died"
http_get "$tm_STATUS/v1/overview"
[ "$HTTP_CODE" = 200 ] || fail "status endpoint not serving after bad input"
