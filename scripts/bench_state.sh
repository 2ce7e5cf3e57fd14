#!/usr/bin/env bash
# Keyed-state benchmarks (called by scripts/bench.sh; issue #16). One JSON line per
# figure, targets beside the measurements.
#
# 1. bench_state (test/bench/bench_state.c): keyed_count over 10^3 .. 10^7 distinct keys
#    on the hashmap backend and 10^3 .. BENCH_STATE_ROCKSDB_MAX (default 10^6: RocksDB
#    on this machine does some 10^4..10^5 updates/s, hours for 10^7 with the update
#    rounds) on rocksdb with incremental checkpoints: load and update rates with and
#    without a checkpoint a second, the synchronous pause (p50/p99/max), the
#    asynchronous part, RSS and bytes per key beside the raw key + value bytes, RSS
#    during checkpoints, full and incremental (1% of keys changed) checkpoint bytes,
#    restore time, RSS once the state is freed.
# 2. A daemon running a 10^7-key hashmap keyed_count (sequence -> keyed_count ->
#    discard): its RSS idle, at the peak and 3 s after the job ended, and the latency
#    of the status endpoint (GET /v1/overview, back to back) while the task's state is
#    torn down (from the task's end until RSS stops falling).
#
# Environment: BENCH_STATE_KEYS (space-separated key counts, default
# "1000 10000 100000 1000000 10000000"), BENCH_STATE_ROCKSDB_MAX, BENCH_STATE_DAEMON_KEYS
# (10000000), BENCH_DIR (where files go, default /tmp; df it first for large runs).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KEYS=${BENCH_STATE_KEYS:-1000 10000 100000 1000000 10000000}
RMAX=${BENCH_STATE_ROCKSDB_MAX:-1000000}
DKEYS=${BENCH_STATE_DAEMON_KEYS:-10000000}
export BENCH_DIR=${BENCH_DIR:-/tmp}
df -h "$BENCH_DIR" | tail -1 | awk '{ printf "{\"bench\": \"state\", \"figure\": \"disk\", \"dir\": \"%s\", \"available\": \"%s\"}\n", "'"$BENCH_DIR"'", $4 }'
echo "{\"bench\": \"state\", \"figure\": \"machine\", \"cpus\": $(nproc), \"load_average_1m\": $(cut -d' ' -f1 /proc/loadavg)}"
FIGS=$(mktemp)
for k in $KEYS; do
  "$BUILD/bench_state" hashmap "$k" | tee -a "$FIGS"
  if [ "$k" -le "$RMAX" ]; then
    "$BUILD/bench_state" rocksdb "$k" "$(( k < 200000 ? 200000 : k ))" | tee -a "$FIGS"
  fi
done
# rocksdb's update rate beside the hashmap's, per key count (the target: half of it
# on a working set its caches hold)
python3 - "$FIGS" <<'PY'
import json, sys
rate = {}
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("figure") == "throughput":
        rate[(d["backend"], d["keys"])] = d["records_per_s"]
for (b, k), r in sorted(rate.items()):
    if b == "rocksdb" and ("hashmap", k) in rate:
        print(json.dumps({"bench": "state", "figure": "rocksdb_to_hashmap", "keys": k,
                          "ratio": round(r / rate[("hashmap", k)], 3), "target_ratio": 0.5}))
PY
rm -f "$FIGS"

WORK=$(mktemp -d "$BENCH_DIR/te-bench-state.XXXXXX")
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$BUILD/taskexecutord" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
  -D taskmanager.numberOfTaskSlots=1 -D taskmanager.state.local.dir="$WORK/local" >"$WORK/d.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do grep -q ' READY ' "$WORK/d.log" 2>/dev/null && break; sleep 0.05; done
RPC=127.0.0.1:$(sed -n 's/.*rpc_port=\([0-9]*\).*/\1/p' "$WORK/d.log" | head -1)
STATUS=$(sed -n 's/.*status_port=\([0-9]*\).*/\1/p' "$WORK/d.log" | head -1)
cat >"$WORK/job.json" <<JSON
{ "name": "bench-state-teardown", "vertices": [
    { "id": "all", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": $DKEYS },
                                               { "op": "keyed_count", "emit": "updates" }, { "op": "discard" } ] } ],
  "edges": [] }
JSON
python3 - "$DPID" "$STATUS" "$BUILD/tectl" "$WORK/job.json" "$RPC" "$DKEYS" <<'PY'
import json, subprocess, sys, threading, time, urllib.request
pid, port, tectl, job, rpc, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) * 1024
time.sleep(1.0)
idle = rss()
samples = []  # (time, latency_ms)
stop = threading.Event()
def poll():
    while not stop.is_set():
        t0 = time.monotonic()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/overview", timeout=30).read()
        samples.append((t0, (time.monotonic() - t0) * 1000))
th = threading.Thread(target=poll)
th.start()
peak = idle
p = subprocess.Popen([tectl, "submit", job, "--executor", rpc, "--json"], stdout=subprocess.PIPE, text=True)
end = None
for line in p.stdout:
    ev = json.loads(line)
    if ev.get("event") == "state" and ev.get("state") in ("FINISHED", "FAILED", "CANCELED") and end is None:
        end = time.monotonic()
    peak = max(peak, rss())
p.wait()
# until RSS stops falling (the state store is freed on the snapshot pool)
last, stable = rss(), 0
while stable < 5:
    time.sleep(0.2)
    r = rss()
    stable = stable + 1 if abs(r - last) < (1 << 20) else 0
    last = r
torn = time.monotonic()
time.sleep(3.0)
after = rss()
stop.set()
th.join()
lat = sorted(l for t, l in samples if end is not None and end <= t <= torn) or [0.0]
allat = sorted(l for t, l in samples)
pick = lambda v, q: v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]
print(json.dumps({"bench": "state", "figure": "daemon_teardown_status_latency_ms", "keys": keys,
                  "requests": len(lat), "p50": round(pick(lat, 0.5), 2), "p99": round(pick(lat, 0.99), 2),
                  "max": round(lat[-1], 2), "teardown_s": round(torn - end, 2) if end else None,
                  "whole_job_max": round(allat[-1], 2), "target_ms": 50}))
print(json.dumps({"bench": "state", "figure": "daemon_rss", "keys": keys, "idle": idle, "peak": peak,
                  "after_job": after, "after_minus_idle": after - idle, "target_after_minus_idle": 10 << 20}))
PY
