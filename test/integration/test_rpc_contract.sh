# Contracts of proto/rpc.proto and the configuration against a real daemon, from a
# hand-encoded client (rpc_contract.py): RequestSlot for an index out of range answers
# SLOT_NOT_AVAILABLE; a SubmitTask refused after the slot check leaves a slot with no
# task ALLOCATED again, and taskmanager.slot.timeout frees it; a consumer whose local
# producer never registers fails after taskmanager.network.partition-request-timeout,
# not after request-backoff.max.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2 -D taskmanager.slot.timeout=1s \
  -D taskmanager.network.partition-request-timeout=1s -D taskmanager.network.request-backoff.max=60s
python3 "$(dirname "$0")/rpc_contract.py" "$tm_RPC" 2 || fail "RPC contract check failed"
kill -0 "$tm_PID" || fail "daemon died"
