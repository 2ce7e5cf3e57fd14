#!/usr/bin/env bash
# Nexmark q0/q1/q2/q5 through one real daemon, driven by tectl: events per second per
# CPU core = events generated / the daemon's CPU seconds (utime+stime from
# /proc/<pid>/stat) during the job, beside Flink 1.13's published per-core figures
# (Nexmark project: q0 155K, q1 158K, q2 175K, q5 22K events/s per core) and the
# issue's target of 10x those.
set -euo pipefail
BUILD=${1:-build}
EVENTS=${NEXMARK_EVENTS:-10000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d /tmp/te-nexmark.XXXXXX)
"$BUILD/taskexecutord" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
  >"$WORK/daemon.log" 2>&1 &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do grep -q ' READY ' "$WORK/daemon.log" 2>/dev/null && break; sleep 0.05; done
RPC=$(sed -n 's/.*READY rpc_port=\([0-9]*\).*/\1/p' "$WORK/daemon.log")
[ -n "$RPC" ] || { cat "$WORK/daemon.log" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
hz=$(getconf CLK_TCK)
declare -A FLINK=([q0]=155000 [q1]=158000 [q2]=175000 [q5]=22000)
for q in q0 q1 q2 q5; do
  job="conf/jobs/nexmark_$q.json"
  [ -f "$job" ] || { echo "{\"figure\":\"nexmark_$q\",\"skipped\":\"$job not present\"}"; continue; }
  python3 - "$job" "$EVENTS" "$WORK/$q.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for v in j["vertices"]:
    for op in v["chain"]:
        if op["op"] == "nexmark":
            op["count"] = sys.argv[2]
json.dump(j, open(sys.argv[3], "w"))
PY
  c0=$(cpu); t0=$(date +%s.%N)
  "$BUILD/tectl" submit "$WORK/$q.json" --executor "127.0.0.1:$RPC" >"$WORK/$q.out" 2>&1 || { cat "$WORK/$q.out" >&2; exit 1; }
  t1=$(date +%s.%N); c1=$(cpu)
  python3 - "$q" "$EVENTS" "$c0" "$c1" "$hz" "$t0" "$t1" "${FLINK[$q]}" <<'PY'
import json, sys
q, events, c0, c1, hz, t0, t1, flink = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
cpu_s = max((c1 - c0) / hz, 1e-9)
per_core = events / cpu_s
print(json.dumps({"figure": "nexmark_" + q, "events": events, "wall_s": round(t1 - t0, 3), "cpu_s": round(cpu_s, 3),
                  "events_per_s_per_core": round(per_core), "flink_1_13_per_core": flink,
                  "ratio_to_flink": round(per_core / flink, 1), "target_ratio": 10}))
PY
done
