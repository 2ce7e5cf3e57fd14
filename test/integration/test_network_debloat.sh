# Buffer debloating (issue 20, item 2) under backpressure, with and without it in the
# same run. Two pairs of daemons with one slot each (x_off/y_off without debloating,
# x_on/y_on with taskmanager.network.memory.buffer-debloat.enabled and a 100 ms
# target); on each pair the same job: 1..N from 2 source subtasks rebalanced into a
# deliberately slow map (slow_sink plugin, forward=true) chained to a file sink, one
# subtask per daemon, so each slow map's gate reads one local and one remote channel;
# an aligned checkpoint every 500 ms. While it runs the slow maps' gates are sampled
# (/v1/tasks): in-flight bytes of the remote channel, the announced buffer size, the
# task's input rate. Checks: both outputs = seq 1 N (the oracle); with debloating the
# in-flight bytes per gate (upper quartile of the samples) are within 2x of the target
# (the median input rate x 100 ms), the gates announced a size below the segment, and
# the in-flight bytes are at most half of those without it (measured on a plain
# build: 5-8 kB with it, 65-68 kB without, 37 kB with it when the producers did not
# cut their buffers). The checkpoint durations of both runs are printed, not asserted
# (make bench compares them).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=120000
TARGET_MS=100
COMMON=(-D taskmanager.numberOfTaskSlots=1 -D plugins.dir="$BUILD/plugins")
DEBLOAT=(-D taskmanager.network.memory.buffer-debloat.enabled=true
  -D taskmanager.network.memory.buffer-debloat.target=${TARGET_MS}ms)
start_daemon x_off "${COMMON[@]}"
start_daemon y_off "${COMMON[@]}"
start_daemon x_on "${COMMON[@]}" "${DEBLOAT[@]}"
start_daemon y_on "${COMMON[@]}" "${DEBLOAT[@]}"
seq 1 "$N" | sort >"$WORK/expected.txt"

# run MODE X Y: the job on daemons X and Y; samples to $WORK/MODE.samples, the summary
# (upper quartile of in-flight bytes, median target bytes, smallest announced size) to
# $WORK/MODE.summary, checkpoint durations to $WORK/MODE.ckpt.
run() {
  local mode=$1 x=$2 y=$3
  local xr=${x}_RPC yr=${y}_RPC xs=${x}_STATUS ys=${y}_STATUS
  mkdir -p "$WORK/$mode.out"
  cat >"$WORK/$mode.json" <<JSON
{ "name": "debloat-$mode",
  "config": { "execution.checkpointing.tolerable-failed-checkpoints": "1000000" },
  "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "from": "1", "to": "$N" } ] },
    { "id": "slow", "parallelism": 2,
      "chain": [ { "op": "plugin", "library": "slow_sink.so", "every": "10", "sleep_us": "1000", "forward": "true" },
                 { "op": "file_sink", "path": "$WORK/$mode.out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "slow", "partitioner": "rebalance" } ] }
JSON
  submit_bg "$WORK/$mode.tectl" "$WORK/$mode.json" --executor "${!xr}" --executor "${!yr}" \
    --checkpoint-interval 500ms --checkpoint-dir "$WORK/$mode.chk" --timeout 200s
  python3 - "$SUBMIT_PID" "$TARGET_MS" "${!xs}" "${!ys}" >"$WORK/$mode.summary" 2>"$WORK/$mode.samples" <<'PY' ||
import json, statistics, sys, time, urllib.request
tectl, target_ms, urls = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def alive():
    try:
        return "State:\tZ" not in open(f"/proc/{tectl}/status").read()
    except OSError:
        return False
first, inflight, targets, sizes = {}, [], [], []
while alive():
    tasks = []
    for u in urls:
        try:
            with urllib.request.urlopen(u + "/v1/tasks", timeout=5) as r:
                tasks += json.load(r)["tasks"]
        except OSError:
            pass
    # steady backpressure only: while a source still runs (it blocks on full buffers;
    # once they hold all it has left it finishes and the in-flight data drains)
    if any(t["name"].startswith("seq") and t["state"] == "RUNNING" for t in tasks):
        for t in tasks:
                m = t["metrics"]
                if not t["name"].startswith("slow") or t["state"] != "RUNNING" or not m.get("inputGates"):
                    continue
                now = time.monotonic()
                first.setdefault(t["name"], now)
                g, rate = m["inputGates"][0], m["numBytesInPerSecond"]
                print(t["name"], g["inFlightBytes"], g["debloatedBufferSize"], rate, file=sys.stderr)
                if now - first[t["name"]] >= 2.0 and rate > 0:  # past the start (rates need a second or two)
                    inflight.append(g["inFlightBytes"])
                    targets.append(rate * target_ms / 1000)
                    sizes.append(g["debloatedBufferSize"])
    time.sleep(0.1)
if not inflight:
    sys.exit("no sample of a running slow map past its first 2 s while a source ran")
inflight.sort()  # the upper quartile: most samples are below it; with buffers not cut it is a segment or more
print(f"in_flight={inflight[len(inflight) * 3 // 4]} target={int(statistics.median(targets))} "
      f"min_size={min(sizes)} samples={len(inflight)}")
PY
    { tail -20 "$WORK/$mode.samples"; fail "$mode: sampling failed"; }
  wait "$SUBMIT_PID" || { tail -30 "$WORK/$mode.tectl"; fail "$mode: the job did not finish"; }
  committed_output "$WORK/$mode.out" | sort >"$WORK/$mode.actual"
  cmp -s "$WORK/expected.txt" "$WORK/$mode.actual" || fail "$mode: committed output differs from seq 1 $N"
  sed -n 's/.*checkpoint [0-9]* completed in \([0-9]*\) ms.*/\1/p' "$WORK/$mode.tectl" >"$WORK/$mode.ckpt"
  [ -s "$WORK/$mode.ckpt" ] || { tail -30 "$WORK/$mode.tectl"; fail "$mode: no aligned checkpoint completed"; }
}

field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$2"; }
run off x_off y_off
run on x_on y_on
for m in off on; do echo "$m: $(cat "$WORK/$m.summary") checkpoints_ms=$(sort -n "$WORK/$m.ckpt" | tr '\n' ' ')"; done
off_if=$(field in_flight "$WORK/off.summary")
on_if=$(field in_flight "$WORK/on.summary")
on_target=$(field target "$WORK/on.summary")
on_size=$(field min_size "$WORK/on.summary")
off_size=$(field min_size "$WORK/off.summary")
[ "$off_size" = 0 ] || fail "without debloating a gate reported a debloated buffer size ($off_size)"
[ "$on_size" -gt 0 ] && [ "$on_size" -lt 32768 ] || fail "with debloating no gate announced a size below the segment ($on_size)"
[ "$on_if" -le $((2 * on_target)) ] ||
  fail "with debloating the in-flight bytes per gate ($on_if) are not within 2x of the target ($on_target)"
[ $((2 * on_if)) -le "$off_if" ] ||
  fail "debloating did not cut the in-flight bytes per gate to half ($on_if with it, $off_if without)"
for d in x_off y_off x_on y_on; do
  st=${d}_STATUS
  wait_until 10 daemon_idle "${!st}" || fail "slots or segments not released on $d"
done
echo "buffer debloating (target ${TARGET_MS} ms) under backpressure: in-flight bytes per gate $on_if (target $on_target) vs $off_if without; output = seq both ways"
