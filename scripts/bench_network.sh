#!/usr/bin/env bash
# Network benchmarks (called by scripts/bench.sh; DESIGN §13, issue #4). Prints one JSON
# line per figure.
#
# 1. iperf3's loopback bandwidth (one TCP stream, 3 s), the limit for bytes/s.
# 2. $BUILD/bench_network: two processes on 127.0.0.1, the real partition server and
#    client (flink-benchmarks networkThroughput shape: 4 writers, 100 channels at 100 ms
#    flush and 1000 channels at 1 ms flush, 8-byte records; 1 KiB records as a ratio of
#    the iperf3 figure; p50/p99 latency with buffer-timeout 0 at 100k records/s). It
#    fails (and so does this script) when a record is lost or duplicated. The latency
#    figure runs twice: the default mode (busy_poll_us 0) and with
#    taskmanager.network.busy-poll (BENCH_NET_BUSY_POLL_US, default 50; 0 skips it).
# 3. Two real taskexecutord daemons driven by tectl (sequence -> rebalance -> discard;
#    half of the channels cross TCP): records/s over the whole job, submit to finish.
#
# Environment: BENCH_NET_RECORDS (8-byte records, 100000000), BENCH_NET_RECORDS_1K
# (4000000), BENCH_NET_LATENCY_RECORDS (300000), BENCH_NET_DAEMON_RECORDS (20000000;
# 0 skips the daemon figure).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N8=${BENCH_NET_RECORDS:-100000000}
N1K=${BENCH_NET_RECORDS_1K:-4000000}
NLAT=${BENCH_NET_LATENCY_RECORDS:-300000}
ND=${BENCH_NET_DAEMON_RECORDS:-20000000}
BUSY=${BENCH_NET_BUSY_POLL_US:-50}
WORK=$(mktemp -d /tmp/te-bench-net.XXXXXX)
PIDS=()
# start() runs in $(...): its daemons' pids go to $WORK/pids (PIDS+= would stay in the subshell).
cleanup() {
  for p in "${PIDS[@]:-}" $(cat "$WORK/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true; rm -rf "$WORK"
}
trap cleanup EXIT

# ---- 1. iperf3 loopback bandwidth ----
IPERF_ARGS=()
if command -v iperf3 >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # a long-lived server (not -1: a client attempt that fails before the test would end a
  # one-off server and every later attempt with it), stopped after the measurement
  iperf3 -s -B 127.0.0.1 -p "$port" >"$WORK/iperf3-server.log" 2>&1 &
  iperf_srv=$!
  PIDS+=("$iperf_srv")
  # an attempt counts only when its report has the received bandwidth (a client that
  # raced the server's start can exit 0 with an error report)
  bw=
  for _ in $(seq 1 50); do
    iperf3 -c 127.0.0.1 -p "$port" -t 3 -J >"$WORK/iperf3.json" 2>/dev/null || true
    bw=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/8))' \
         "$WORK/iperf3.json" 2>/dev/null || true)
    [ -n "$bw" ] && break
    sleep 0.1
  done
  kill "$iperf_srv" 2>/dev/null || true
  if [ -n "$bw" ]; then
    echo "{\"figure\":\"iperf3_loopback_bytes_per_s\",\"bytes_per_s\":$bw,\"streams\":1,\"seconds\":3}"
    IPERF_ARGS=(-i "$bw")
  else
    echo '{"figure":"iperf3_loopback_bytes_per_s","error":"iperf3 did not produce a result"}'
  fi
else
  echo '{"figure":"iperf3_loopback_bytes_per_s","skipped":"iperf3 is not installed (scripts/install-deps.sh adds it)"}'
fi

# ---- 2. two processes through the partition server and client ----
"$BUILD/bench_network" -n "$N8" -k "$N1K" -l "$NLAT" "${IPERF_ARGS[@]}"
if [ "$BUSY" -gt 0 ]; then
  "$BUILD/bench_network" -l "$NLAT" -f net_latency -b "$BUSY"
fi

# ---- 3. two daemons through tectl ----
[ "$ND" -gt 0 ] || exit 0
start() {
  "$BUILD/taskexecutord" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.numberOfTaskSlots=4 >"$WORK/$1.log" 2>&1 &
  echo $! >>"$WORK/pids"
  for _ in $(seq 1 100); do grep -q ' READY ' "$WORK/$1.log" && break; sleep 0.05; done
  sed -n 's/.* READY rpc_port=\([0-9]*\).*/127.0.0.1:\1/p' "$WORK/$1.log" | head -1
}
A=$(start a)
B=$(start b)
for timeout in 100ms 1ms; do
  cat >"$WORK/job.json" <<JSON
{ "name": "net-bench", "config": { "execution.buffer-timeout": "$timeout" },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 10000000, "to": $((10000000 + ND / 2 - 1)) } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
  t0=$(date +%s.%N)
  "$BUILD/tectl" submit "$WORK/job.json" --executor "$A" --executor "$B" >"$WORK/tectl.out" 2>&1
  t1=$(date +%s.%N)
  python3 -c 'import json,sys; n=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(json.dumps({"figure":"daemons_rebalance_8b_records_per_s","buffer_timeout":sys.argv[4],"records":n,"remote_share":0.5,"writers":2,"channels":4,"seconds":round(s,3),"records_per_s":round(n/s),"note":"two taskexecutord daemons on loopback via tectl, submit-to-finish wall time"}))' "$ND" "$t0" "$t1" "$timeout"
done
