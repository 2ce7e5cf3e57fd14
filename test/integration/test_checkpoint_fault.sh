# Exactly once under faults: a keyed count (the sequence 1..N, rate-limited so the job
# runs for seconds, keyed by round(n / 1024) → keyed_count emit=updates → file_sink,
# parallelism 2, on 2 daemons with fixed ports) with a checkpoint every 200ms and
# --restart-attempts 10, while this test kill -9's one of the daemons at 5 or more
# random moments (MIN_KILLS) and starts it again on the same ports. tectl must restart the job from
# its latest completed checkpoint each time, and at the end the committed output must
# be exactly the undisturbed result: for every key k with c occurrences, the updates
# "k\t1" .. "k\tc" once each — computed here with seq + awk (the oracle), compared as
# sorted multisets (a lost record is a missing line, a duplicate an extra one).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=${N:-600000}
RATE=80000 # about 7.5 s undisturbed (long enough for the kills of a loaded machine)
MIN_KILLS=${MIN_KILLS:-5}
SEED=${SEED:-$$}
RANDOM=$SEED
UNALIGNED=${UNALIGNED:-false} # test_checkpoint_fault_unaligned.sh: the same with unaligned checkpoints
STATE_CONFIG=${STATE_CONFIG:-}  # test_checkpoint_fault_rocksdb.sh: job config entries of the state backend
echo "seed $SEED, unaligned checkpoints: $UNALIGNED${STATE_CONFIG:+, $STATE_CONFIG}"

read -r A_RPC A_DATA B_RPC B_DATA < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()')
start_at() { # NAME RPC DATA
  start_daemon "$1" -D taskmanager.rpc.port="$2" -D taskmanager.data.port="$3" -D taskmanager.numberOfTaskSlots=4
}
start_at a0 "$A_RPC" "$A_DATA"
start_at b0 "$B_RPC" "$B_DATA"
[ "$a0_RPC" = "127.0.0.1:$A_RPC" ] || fail "daemon a did not take its fixed port ($a0_RPC)"
APID=$a0_PID
BPID=$b0_PID

mkdir -p "$WORK/out"
cat >"$WORK/job.json" <<JSON
{ "name": "keyed-count-faults",
  "config": { "execution.buffer-timeout": "5ms", "execution.checkpointing.unaligned.enabled": "$UNALIGNED"${STATE_CONFIG:+, $STATE_CONFIG} },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 1, "to": $N, "rate": $RATE },
                                                { "op": "scale", "field": 0, "factor": 0.0009765625 } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "emit": "updates" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
submit_bg "$WORK/tectl.out" "$WORK/job.json" --executor "127.0.0.1:$A_RPC" --executor "127.0.0.1:$B_RPC" \
  --checkpoint-interval 200ms --checkpoint-dir "$WORK/ck" --restart-attempts 10 --restart-backoff 200ms \
  --timeout 90s
TECTL_PID=$SUBMIT_PID

# Kill one daemon at random moments while the job runs (never once a task finished:
# the job is then ending), each time restarting it on the same ports.
kills=0
wait_until 20 grep -q 'checkpoint [0-9]* completed' "$WORK/tectl.out" || { cat "$WORK/tectl.out"; fail "no checkpoint completed"; }
while [ $kills -lt 7 ] && kill -0 "$TECTL_PID" 2>/dev/null; do
  sleep "0.$((3 + RANDOM % 6))$((RANDOM % 10))"
  grep -q ' FINISHED' "$WORK/tectl.out" && break
  kill -0 "$TECTL_PID" 2>/dev/null || break
  if [ $((RANDOM % 2)) -eq 0 ]; then
    kill -9 "$APID"; wait "$APID" 2>/dev/null
    kills=$((kills + 1)); echo "kill $kills: daemon a at $(date +%T.%N | cut -c1-12)"
    start_at "a$kills" "$A_RPC" "$A_DATA"; v="a${kills}_PID"; APID=${!v}
  else
    kill -9 "$BPID"; wait "$BPID" 2>/dev/null
    kills=$((kills + 1)); echo "kill $kills: daemon b at $(date +%T.%N | cut -c1-12)"
    start_at "b$kills" "$B_RPC" "$B_DATA"; v="b${kills}_PID"; BPID=${!v}
  fi
done
wait "$TECTL_PID"; rc=$?
cat "$WORK/tectl.out" | grep -E 'checkpoint [0-9]+ (completed|aborted)|restarting|job (finished|failed)|tectl:' | tail -n 25
[ $rc -eq 0 ] || { tail -n 40 "$WORK/tectl.out"; fail "tectl exit $rc (expected 0 after the restarts)"; }
[ $kills -ge "$MIN_KILLS" ] || fail "only $kills kills happened while the job ran (need $MIN_KILLS): the job ended too early"
restarts=$(grep -c 'restarting from' "$WORK/tectl.out")
[ "$restarts" -ge "$MIN_KILLS" ] || fail "tectl restarted $restarts times after $kills kills"
grep -q 'restarting from checkpoint [0-9]' "$WORK/tectl.out" || fail "no restart from a checkpoint"

# The oracle: key = round(n / 1024) = floor((n + 512) / 1024); updates 1..c per key.
seq 1 $N | awk '{ k = int(($1 + 512) / 1024); c[k]++; print k "\t" c[k] }' | sort >"$WORK/expected.txt"
ls "$WORK/out" | grep -Ev '^part-[0-9]+\.txt(\.part-[0-9]+)?$' >"$WORK/uncommitted.txt" || true
cat "$WORK"/out/part-[0-9].txt "$WORK"/out/part-[0-9].txt.part-[0-9]* 2>/dev/null | sort >"$WORK/actual.txt"
[ "$(wc -l <"$WORK/expected.txt")" -eq $N ] || fail "oracle broken"
if ! cmp -s "$WORK/expected.txt" "$WORK/actual.txt"; then
  echo "missing (lost) / extra (duplicated) committed records:"
  comm -3 "$WORK/expected.txt" "$WORK/actual.txt" | head -20
  echo "lost: $(comm -23 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l), extra: $(comm -13 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l)"
  fail "the committed output differs from the undisturbed result"
fi
echo "exactly once after $kills kills and $restarts restarts: $N committed updates equal the oracle"
