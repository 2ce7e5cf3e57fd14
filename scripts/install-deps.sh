#!/usr/bin/env bash
# Installs the Debian packages taskexecutord needs to build, test and benchmark.
# Idempotent: installs only what is missing; does nothing when all are present.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libevent-dev            # libevent_core, libevent_pthreads, libevent_extra
  libssl-dev              # openssl + libevent_openssl (TLS, HMAC; issue #6)
  openssl                 # CLI: scripts/gen-test-certs.sh
  libprotobuf-c-dev protobuf-c-compiler
  libjansson-dev
  libyaml-dev
  check
  librocksdb-dev          # state.backend.type: rocksdb (lib/state/rocksdb_*; issue #16)
  python3 curl procps iproute2
  python3-prometheus-client   # tests: a real Prometheus text parser for /metrics
  chromium                    # tests: the dashboard rendered in headless Chromium
  iperf3                      # bench: loopback bandwidth, the limit for network figures
  valgrind                    # make valgrind
  clang libclang-rt-14-dev    # make fuzz: libFuzzer
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
