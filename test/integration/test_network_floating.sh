# Floating-only input gates (issue 20, item 1): daemon a gives its remote input
# channels no exclusive buffers (buffers-per-channel 0) and its gates one guaranteed
# floating buffer each (floating-buffers-per-gate 1; a gate may borrow 2 more per
# channel while a's small arena has them), so the remote channels of a gate compete
# for them, with credit announced per channel on backlog only. The job:
# 1..N from 8 source subtasks (4 in a, 4 in b) rebalanced into a deliberately slow map
# (slow_sink plugin, forward=true) on each daemon, hash partitioned into keyed_count
# emit=final + file_sink, with an aligned checkpoint every 50 ms: the backpressured
# slow map's gate in a reads 4 remote channels through 1 to 9 buffers, and each aligned
# barrier releases it (the producer stops until ResumeConsumption), so the other
# channels' barriers and data get through. It must finish by itself (tectl --timeout
# cancels a hung job and exits 1), with checkpoints completed, and its output must be
# "k<TAB>1" for every k in 1..N (seq + awk, the oracle). Every source subtask's records
# must arrive (no starved channel): the count of each residue k mod 8 equals seq's.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=100000
start_floating_pair 8
mkdir -p "$WORK/out"
cat >"$WORK/job.json" <<JSON
{ "name": "floating-only",
  "config": { "execution.buffer-timeout": "5ms", "execution.checkpointing.tolerable-failed-checkpoints": "1000000" },
  "vertices": [
    { "id": "seq", "parallelism": 8, "chain": [ { "op": "sequence", "from": "1", "to": "$N" } ] },
    { "id": "slow", "parallelism": 2,
      "chain": [ { "op": "plugin", "library": "slow_sink.so", "every": "20", "sleep_us": "1000", "forward": "true" } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "emit": "final" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "slow", "partitioner": "rebalance" },
             { "from": "slow", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
seq 1 "$N" | awk '{print $1 "\t1"}' | sort >"$WORK/expected.txt"
submit_bg "$WORK/tectl.out" "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" --checkpoint-interval 50ms \
  --checkpoint-dir "$WORK/chk" --timeout 150s
# While it runs: the slow map's gate on a (metrics of /v1/tasks and /metrics) is
# floating-only, holds no exclusive buffer and never more floating ones than its pool
# (1 + 4 channels x 2).
python3 - "$a_STATUS" "$SUBMIT_PID" >"$WORK/samples.txt" <<'PY' || { cat "$WORK/samples.txt"; fail "sampling failed"; }
import json, os, sys, time, urllib.request
st, tectl = sys.argv[1], int(sys.argv[2])
seen, fl_max, ex_max, bytes_max, prom = False, 0, 0, 0, False
def alive():
    try:
        return "State:\tZ" not in open(f"/proc/{tectl}/status").read()
    except OSError:
        return False
while alive():
    with urllib.request.urlopen(st + "/v1/tasks", timeout=5) as r:
        tasks = json.load(r)["tasks"]
    for t in tasks:
        if t["name"].startswith("slow") and t["state"] == "RUNNING" and t["metrics"]["inputGates"]:
            g = t["metrics"]["inputGates"][0]
            seen = seen or g["floatingOnly"]
            fl_max = max(fl_max, g["floatingBuffersInUse"])
            ex_max = max(ex_max, g["exclusiveBuffersInUse"])
            bytes_max = max(bytes_max, g["inFlightBytes"])
    if not prom:
        with urllib.request.urlopen(st + "/metrics", timeout=5) as r:
            prom = "te_task_input_gate_in_flight_bytes{" in r.read().decode()
    time.sleep(0.1)
print(f"floating_only={seen} floating_max={fl_max} exclusive_max={ex_max} in_flight_max={bytes_max} prom={prom}")
PY
wait "$SUBMIT_PID" || { tail -30 "$WORK/tectl.out"; fail "the job did not finish (a hung task is cancelled by --timeout)"; }
cat "$WORK/samples.txt"
grep -q "floating_only=True" "$WORK/samples.txt" || fail "the slow map's gate on a was not reported floating-only"
grep -q "exclusive_max=0 " "$WORK/samples.txt" || fail "a floating-only gate reported exclusive buffers"
grep -Eq "floating_max=[0-9] " "$WORK/samples.txt" || fail "the gate held more buffers than its pool's 9"
grep -q "prom=True" "$WORK/samples.txt" || fail "/metrics has no te_task_input_gate_in_flight_bytes"
done_ckpts=$(grep -c 'checkpoint [0-9]* completed' "$WORK/tectl.out" || true)
[ "$done_ckpts" -ge 1 ] || { tail -30 "$WORK/tectl.out"; fail "no aligned checkpoint completed"; }
committed_output "$WORK/out" | sort >"$WORK/actual.txt"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "committed output differs from seq 1 $N"
for r in 0 1 2 3 4 5 6 7; do
  want=$(seq 1 "$N" | awk -v r=$r '$1 % 8 == r' | wc -l)
  got=$(awk -v r=$r '$1 % 8 == r' "$WORK/actual.txt" | wc -l)
  [ "$want" = "$got" ] || fail "source subtask $r: $got of $want records arrived"
done
grep -q "floating-only" "$a_LOG" || fail "daemon a did not report a floating-only gate"
wait_until 10 daemon_idle "$a_STATUS" || fail "slots or segments not released on a"
wait_until 10 daemon_idle "$b_STATUS" || fail "slots or segments not released on b"
echo "floating-only gates (1..9 buffers per gate) under backpressure with $done_ckpts aligned checkpoints: output = seq; $(cat "$WORK/samples.txt")"
