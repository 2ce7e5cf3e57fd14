#!/usr/bin/env bash
# TLS throughput cost (issue #6; Flink's networkThroughput drops ~4x with SSL). Two real
# taskexecutord daemons driven by tectl, sequence -> rebalance -> discard (half of the
# channels cross TCP), buffer-timeout 100ms: once plaintext, once with mutual TLS on
# the RPC and data ports (certificates from scripts/gen-test-certs.sh in a temp dir).
# Prints one JSON line per mode and the ratio. Called by scripts/bench.sh.
# Environment: BENCH_TLS_RECORDS (8-byte records, default 20000000).
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${BENCH_TLS_RECORDS:-20000000}
WORK=$(mktemp -d /tmp/te-bench-tls.XXXXXX)
PIDS=()
# start() runs in $(...): its daemons' pids go to $WORK/pids (PIDS+= would stay in the subshell).
cleanup() {
  for p in "${PIDS[@]:-}" $(cat "$WORK/pids" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true; rm -rf "$WORK"
}
trap cleanup EXIT
if ! command -v openssl >/dev/null; then
  echo '{"figure":"tls_daemons_rebalance_8b_records_per_s","skipped":"openssl CLI not installed"}'; exit 0
fi
bash scripts/gen-test-certs.sh "$WORK/certs"
C="$WORK/certs"
TLS_D=(-D security.ssl.enabled=true -D security.ssl.certificate="$C/server.pem" -D security.ssl.key="$C/server.key"
       -D security.ssl.ca="$C/ca.pem" -D security.ssl.require-client-cert=true)
TLS_C=(--tls-ca "$C/ca.pem" --tls-cert "$C/client.pem" --tls-key "$C/client.key")
start() { # name extra-args...
  local name=$1; shift
  "$BUILD/taskexecutord" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.numberOfTaskSlots=4 "$@" >"$WORK/$name.log" 2>&1 &
  echo $! >>"$WORK/pids"
  for _ in $(seq 1 100); do grep -q ' READY ' "$WORK/$name.log" && break; sleep 0.05; done
  sed -n 's/.* READY rpc_port=\([0-9]*\).*/127.0.0.1:\1/p' "$WORK/$name.log" | head -1
}
cat >"$WORK/job.json" <<JSON
{ "name": "tls-bench", "config": { "execution.buffer-timeout": "100ms" },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 10000000, "to": $((10000000 + N / 2 - 1)) } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
declare -A RATE
for mode in plain tls; do
  if [ "$mode" = tls ]; then A=$(start a-tls "${TLS_D[@]}"); B=$(start b-tls "${TLS_D[@]}"); CL=("${TLS_C[@]}")
  else A=$(start a); B=$(start b); CL=(); fi
  t0=$(date +%s.%N)
  "$BUILD/tectl" submit "$WORK/job.json" --executor "$A" --executor "$B" "${CL[@]}" >"$WORK/tectl-$mode.out" 2>&1 \
    || { cat "$WORK/tectl-$mode.out" >&2; echo "{\"figure\":\"tls_daemons_rebalance_8b_records_per_s\",\"mode\":\"$mode\",\"error\":\"job failed\"}"; exit 1; }
  t1=$(date +%s.%N)
  RATE[$mode]=$(python3 -c 'import sys; print(round(int(sys.argv[1])/(float(sys.argv[3])-float(sys.argv[2]))))' "$N" "$t0" "$t1")
  python3 -c 'import json,sys; n=int(sys.argv[1]); s=float(sys.argv[3])-float(sys.argv[2]); print(json.dumps({"figure":"tls_daemons_rebalance_8b_records_per_s","mode":sys.argv[4],"records":n,"remote_share":0.5,"seconds":round(s,3),"records_per_s":round(n/s),"note":"two daemons on loopback via tectl, buffer-timeout 100ms, submit-to-finish"}))' "$N" "$t0" "$t1" "$mode"
  for p in $(cat "$WORK/pids"); do kill "$p" 2>/dev/null || true; done; rm -f "$WORK/pids"
done
python3 -c 'import json,sys; p,t=int(sys.argv[1]),int(sys.argv[2]); print(json.dumps({"figure":"tls_throughput_ratio","plain_over_tls":round(p/t,2),"flink_reference":"69.5k -> 17.4k records/ms (~4x)"}))' "${RATE[plain]}" "${RATE[tls]}"
