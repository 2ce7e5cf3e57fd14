# Network memory that does not grow with parallelism squared: an all-to-all job
# (rebalance, then hash) at parallelism 64 on one daemon with the default 64 MB arena
# runs to the end (it was refused with INSUFFICIENT_BUFFERS from parallelism 34: every
# partition reserved subpartitions + 1 buffers, and tasks deployed later found the
# arena borrowed dry by the running ones). Oracle: seq and sort. A job that cannot run
# at all is still refused, with the numbers and the key to raise. The same job at
# parallelism 128 across two daemons, whose gates then have 64 remote channels each.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
P=64
N=300000
start_daemon tm -D taskmanager.numberOfTaskSlots=$P
mkdir -p "$WORK/out"
a2a_job() {
  cat <<JSON
{ "name": "$1", "max_parallelism": 128,
  "vertices": [
    { "id": "src", "parallelism": $2, "chain": [ { "op": "sequence", "from": "1", "to": "$N" } ] },
    { "id": "mid", "parallelism": $2, "chain": [ { "op": "upper" } ] },
    { "id": "snk", "parallelism": $2, "chain": [ { "op": "file_sink", "path": "$WORK/out/$1-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "mid", "partitioner": "rebalance" },
             { "from": "mid", "to": "snk", "partitioner": "hash", "key_field": 0 } ] }
JSON
}
a2a_job a2a $P >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { tail -5 "$WORK/tectl.out"; fail "all-to-all job at parallelism $P failed"; }
seq 1 $N | sort >"$WORK/expected.txt"
cat "$WORK"/out/a2a-*.txt | sort >"$WORK/actual.txt"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "all-to-all output at parallelism $P differs from seq"
[ "$(ls "$WORK"/out/a2a-*.txt | wc -l)" -eq $P ] || fail "not every sink subtask wrote its file"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the job"
echo "all-to-all at parallelism $P on one daemon (default arena) = seq ($N records)"

# Parallelism 128 across two daemons (64 slots each): every gate has 64 remote channels
# (2 x 64 + 8 buffers each with exclusive buffers, 8704 per daemon for its 64 gates);
# the gates beyond the arena's first quarter run floating-only.
if ldd "$DAEMON" 2>/dev/null | grep -q libtsan; then
  # 192 task threads per daemon on a ThreadSanitizer build outlast tectl's 10 s RPC
  # deadline for a deployment on a small machine: the figure is the plain build's.
  skip_check_by_design "all-to-all 128 on two daemons" "too slow to deploy under ThreadSanitizer"
else
  start_daemon d1 -D taskmanager.numberOfTaskSlots=64
  start_daemon d2 -D taskmanager.numberOfTaskSlots=64
  a2a_job a2a2 128 >"$WORK/job2.json"
  "$TECTL" submit "$WORK/job2.json" --executor "$d1_RPC" --executor "$d2_RPC" >"$WORK/tectl2.out" 2>&1 ||
    { tail -5 "$WORK/tectl2.out"; fail "all-to-all job at parallelism 128 on two daemons failed"; }
  cat "$WORK"/out/a2a2-*.txt | sort >"$WORK/actual2.txt"
  cmp -s "$WORK/expected.txt" "$WORK/actual2.txt" || fail "all-to-all output at parallelism 128 differs from seq"
  grep -q "floating-only" "$d1_LOG" || fail "no gate of d1 ran floating-only"
  wait_until 10 daemon_idle "$d1_STATUS" || fail "slots or segments not released on d1"
  wait_until 10 daemon_idle "$d2_STATUS" || fail "slots or segments not released on d2"
  echo "all-to-all at parallelism 128 on two daemons (default arenas) = seq"
fi

# 8 segments: 8 partitions need min(9, 2 + 1) = 3 each: refused, as before.
start_daemon small -D taskmanager.numberOfTaskSlots=8 -D taskmanager.memory.network.size=1mb -D taskmanager.memory.segment-size=128kb
a2a_job small 8 >"$WORK/small.json"
if "$TECTL" submit "$WORK/small.json" --executor "$small_RPC" >"$WORK/small.out" 2>&1; then
  fail "a job needing more buffers than the arena has ran"
fi
grep -q "INSUFFICIENT_BUFFERS" "$WORK/small.out" || { cat "$WORK/small.out"; fail "no INSUFFICIENT_BUFFERS"; }
grep -q "required 3, but only" "$WORK/small.out" || { cat "$WORK/small.out"; fail "refusal without the numbers"; }
grep -q "taskmanager.memory.network.size" "$WORK/small.out" || fail "refusal does not name the key to raise"
wait_until 10 daemon_idle "$small_STATUS" || fail "a refused job left slots or segments behind"
echo "a job that cannot run at all is refused with the numbers and the key"
