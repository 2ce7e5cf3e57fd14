# The slot contract of proto/rpc.proto against a real daemon, from a hand-encoded
# client (slot_contract.py): RequestSlot for an index out of range answers
# SLOT_NOT_AVAILABLE; a SubmitTask refused after the slot check leaves a slot with no
# task ALLOCATED again, and taskmanager.slot.timeout frees it.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2 -D taskmanager.slot.timeout=1s
python3 "$(dirname "$0")/slot_contract.py" "$tm_RPC" 2 || fail "slot contract check failed"
kill -0 "$tm_PID" || fail "daemon died"
