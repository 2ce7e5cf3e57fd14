# A deliberately slow sink behind a remote channel: the sink writes into named pipes
# that this test drains slowly, so credits run out and backpressure must reach the
# source through the network alone. Checks: the result is complete and correct (seq);
# on the producer daemon the segments in use never exceed its configured pools and its
# RSS stays flat (sampled from /v1/overview and /proc/<pid>/status while the job runs);
# the status endpoint shows the backpressure (source isBackPressured or backpressured
# time, outPoolUsage,
# the remote sink's inPoolUsage).
. "$(dirname "$0")/lib.sh"
N=150000
# a: producer (source + local sink subtask 0); b: remote sink subtask 1.
start_daemon a -D taskmanager.numberOfTaskSlots=2 -D taskmanager.memory.network.size=1mb -D taskmanager.memory.segment-size=4kb
start_daemon b -D taskmanager.numberOfTaskSlots=2 -D taskmanager.memory.network.size=1mb -D taskmanager.memory.segment-size=4kb
mkfifo "$WORK/sink-0" "$WORK/sink-1"
cat >"$WORK/job.json" <<JSON
{ "name": "slow-sink", "config": { "execution.buffer-timeout": "10ms" },
  "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": $N } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/sink-{subtask}" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
# Slow readers: 4 KiB every 20 ms (about 200 KB/s each).
READERS=()
for i in 0 1; do
  python3 -c '
import sys, time
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    while True:
        b = f.read1(4096) if hasattr(f, "read1") else f.read(4096)
        if not b: break
        out.write(b); time.sleep(0.02)' "$WORK/sink-$i" "$WORK/out-$i.txt" &
  READERS+=($!)
done
submit_bg "$WORK/tectl.out" "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC"
TECTL_PID=$SUBMIT_PID

# Producer pools on a: the source's partition (2 subpartitions: max 2*2+8 = 12).
POOL_MAX=12
RSS_CHECK=1
if daemon_instrumented; then
  RSS_CHECK=0
  skip_check_by_design "flat producer RSS" "the daemon runs under a sanitizer or a wrapper, whose allocator keeps freed memory"
fi
python3 - "$a_STATUS" "$b_STATUS" "$a_PID" "$TECTL_PID" "$POOL_MAX" "$RSS_CHECK" >"$WORK/samples.txt" <<'PY' || { cat "$WORK/samples.txt"; fail "sampling failed"; }
import json, sys, time, urllib.request, os
a, b, pid, tectl, pool_max = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rss_check = sys.argv[6] == "1"
def get(u):
    with urllib.request.urlopen(u, timeout=5) as r:
        return json.load(r)
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
def alive():
    # tectl may exit between any two reads of /proc: gone or a zombie is "ended".
    try:
        return "State:\tZ" not in open(f"/proc/{tectl}/status").read()
    except OSError:
        return False
used_max, rss_samples, bp, outp, inp = 0, [], False, 0.0, 0.0
while alive():
    ov = get(a + "/v1/overview")
    used = ov["network"]["segments_total"] - ov["network"]["segments_available"]
    used_max = max(used_max, used)
    rss_samples.append(rss())
    for t in get(a + "/v1/tasks")["tasks"]:
        if t["name"].startswith("src") and t["state"] == "RUNNING":
            m = t["metrics"]
            bp = bp or bool(m.get("isBackPressured")) or m.get("backPressuredTimeMsPerSecond", 0) > 0 \
                 or m.get("accumulatedBackpressuredTimeMs", 0) > 0
            outp = max(outp, m.get("outPoolUsage", 0))
    for t in get(b + "/v1/tasks")["tasks"]:
        if t["name"].startswith("sink") and t["state"] == "RUNNING":
            inp = max(inp, t["metrics"].get("inPoolUsage", 0))
    time.sleep(0.05)
print(json.dumps({"segments_used_max": used_max, "pool_max": pool_max, "rss_kb": rss_samples[:3] + rss_samples[-3:],
                  "samples": len(rss_samples), "src_backpressured": bp, "src_outPoolUsage_max": outp,
                  "sink_inPoolUsage_max": inp}))
ok = used_max <= pool_max and len(rss_samples) >= 5
# RSS flat: after the first samples it grows by less than 4 MiB while megabytes stream through.
warm = rss_samples[len(rss_samples) // 5:]
ok = ok and (not rss_check or (max(warm) - min(warm)) < 4096)
ok = ok and bp and outp >= 0.5 and inp > 0
sys.exit(0 if ok else 1)
PY
ok=$?
wait "$TECTL_PID" || { cat "$WORK/tectl.out"; fail "the slow-sink job failed"; }
wait "${READERS[@]}"
cat "$WORK/samples.txt"
[ $ok = 0 ] || fail "producer memory or backpressure metrics out of bounds: $(cat "$WORK/samples.txt")"
cmp -s <(seq 1 $N) <(cat "$WORK"/out-*.txt | sort -n) || fail "slow-sink output is not 1..$N"
[ -s "$WORK/out-1.txt" ] || fail "the remote sink got nothing"
wait_until 10 daemon_idle "$a_STATUS" || fail "a: slots or segments not released"
wait_until 10 daemon_idle "$b_STATUS" || fail "b: slots or segments not released"
