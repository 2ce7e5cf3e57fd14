# The worked example of proto/SCHEDULER.md, run as the document says: its values
# (ids, names, parameters, order) are read from the document by scheduler_guide.py, a
# hand-encoded client, and deployed on a real daemon with 2 slots; the committed output
# is compared with seq.
. "$(dirname "$0")/lib.sh"
start_daemon tm -D taskmanager.numberOfTaskSlots=2
mkdir -p "$WORK/out"
python3 "$(dirname "$0")/scheduler_guide.py" "$tm_RPC" "$WORK/out" || fail "the scheduler guide's example failed"
seq 1 5000 | cmp - <(cat "$WORK"/out/part-0.txt* "$WORK"/out/part-1.txt* | sort -n) ||
  fail "the example's output is not 1..5000 once each"
kill -0 "$tm_PID" || fail "daemon died"
