#!/usr/bin/env bash
# make bench: prints one JSON line per figure (DESIGN §13), with the limits measured
# in the same run (memcpy bandwidth) and the ratios.
#   - local channel throughput (source task -> sink task through one partition),
#     8-byte and 1 KiB records, vs the 20 M records/s target and memcpy bandwidth;
#   - daemon start-to-READY time;
#   - idle RSS of a daemon beside its buffer arena size;
#   - the JobMaster's work on a job (parse, plan, TDDs, lookups) at 5k/10k/20k vertices
#     and its growth ratio (2 = linear, 4 = quadratic);
#   - network memory (scripts/bench_netmem.py): the largest all-to-all parallelism with
#     the default arena on one and two daemons, floating-only vs exclusive throughput,
#     aligned checkpoint duration under backpressure with and without buffer debloating.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$BUILD/bench_local_channel" "${BENCH_RECORDS_8B:-100000000}" "${BENCH_RECORDS_1K:-3000000}"
python3 - "$BUILD/taskexecutord" <<'PY'
import json, os, subprocess, sys, time
daemon = sys.argv[1]
args = [daemon, "-D", "taskmanager.rpc.port=0", "-D", "taskmanager.data.port=0", "-D", "taskmanager.status.port=0"]
times = []
for _ in range(10):
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if " READY " in line:
            break
    times.append((time.monotonic() - t0) * 1000)
    if _ == 9:
        time.sleep(1.0)
        rss = int([l for l in open("/proc/%d/status" % p.pid) if l.startswith("VmRSS")][0].split()[1]) * 1024
    p.terminate(); p.wait()
times.sort()
print(json.dumps({"figure": "start_to_ready_ms", "p50": round(times[len(times)//2], 2), "min": round(times[0], 2), "runs": len(times)}))
arena = 64 * 1024 * 1024
# The arena is allocated at start but its pages become resident only when used.
print(json.dumps({"figure": "idle_rss_bytes", "rss": rss, "network_arena_bytes": arena, "rss_to_arena": round(rss / arena, 3)}))
PY
"$BUILD/bench_job_graph"
bash scripts/bench_network.sh "$BUILD"
bash scripts/bench_tls.sh "$BUILD"
bash scripts/bench_nexmark.sh "$BUILD"
bash scripts/bench_checkpoint.sh "$BUILD"
bash scripts/bench_state.sh "$BUILD"
bash scripts/bench_connectors.sh "$BUILD"
python3 scripts/bench_cluster.py "$BUILD"
python3 scripts/bench_netmem.py "$BUILD"
