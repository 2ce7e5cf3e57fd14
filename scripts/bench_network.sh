#!/usr/bin/env bash
# Network throughput across two daemons on loopback (called by scripts/bench.sh).
# Two real taskexecutord processes; tectl places `sequence` sources and `discard` sinks
# round robin, so with a rebalance edge half of the channels cross a real TCP
# connection through the partition server and client. 8-byte records (the numbers
# 10000000.. are 8 ASCII digits), 100ms and 1ms buffer timeouts. Prints one JSON line per
# figure: records/s over the whole job and the share of records that went remote.
# Also iperf3's loopback bandwidth when iperf3 is installed (the limit for bytes/s).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${BENCH_NET_RECORDS:-20000000}
WORK=$(mktemp -d /tmp/te-bench-net.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
start() {
  "$BUILD/taskexecutord" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.numberOfTaskSlots=4 >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do grep -q ' READY ' "$WORK/$1.log" && break; sleep 0.05; done
  sed -n 's/.* READY rpc_port=\([0-9]*\).*/127.0.0.1:\1/p' "$WORK/$1.log" | head -1
}
A=$(start a)
B=$(start b)
for timeout in 100ms 1ms; do
  cat >"$WORK/job.json" <<JSON
{ "name": "net-bench", "config": { "execution.buffer-timeout": "$timeout" },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 10000000, "to": $((10000000 + N / 2 - 1)) } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
  t0=$(date +%s.%N)
  "$BUILD/tectl" submit "$WORK/job.json" --executor "$A" --executor "$B" >"$WORK/tectl.out" 2>&1
  t1=$(date +%s.%N)
  python3 -c 'import json,sys; n=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(json.dumps({"figure":"network_throughput_8b_records_per_s","buffer_timeout":sys.argv[4],"records":n,"remote_share":0.5,"writers":2,"channels":4,"seconds":round(s,3),"records_per_s":round(n/s),"target":30000000,"note":"two daemons on loopback via tectl, submit-to-finish wall time"}))' "$N" "$t0" "$t1" "$timeout"
done
if command -v iperf3 >/dev/null; then
  iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
  sleep 0.3
  bw=$(iperf3 -c 127.0.0.1 -p 5299 -t 2 -J 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8)')
  echo "{\"figure\":\"iperf3_loopback_bytes_per_s\",\"bytes_per_s\":$bw}"
else
  echo '{"figure":"iperf3_loopback_bytes_per_s","skipped":"iperf3 is not installed (scripts/install-deps.sh should add it)"}'
fi
