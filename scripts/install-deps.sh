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
  python3 curl procps iproute2
  python3-prometheus-client   # tests: a real Prometheus text parser for /metrics
  chromium                    # tests: the dashboard rendered in headless Chromium
  iperf3                      # bench: loopback bandwidth, the limit for network figures
  valgrind                    # make valgrind
  clang libclang-rt-14-dev    # make fuzz: libFuzzer
)

# ---- connectors (issue #18) -------------------------------------------------------
# Libraries (the "build" set): librdkafka, libpq, libmosquitto (pkg-config rdkafka,
# libpq, libmosquitto). Servers and clients the tests start themselves on loopback
# ports (the "test" set): PostgreSQL (initdb/pg_ctl, run as a non-root user via
# setpriv from util-linux), mosquitto + mosquitto_pub/sub. No Kafka broker is packaged
# for Debian 12: the Kafka tests use librdkafka's mock cluster. The packages' services
# are never enabled or started by the install (policy-rc.d below).
CONNECTOR_BUILD_PKGS=(librdkafka-dev libpq-dev libmosquitto-dev)
CONNECTOR_TEST_PKGS=(postgresql mosquitto mosquitto-clients util-linux)
PKGS+=("${CONNECTOR_BUILD_PKGS[@]}" "${CONNECTOR_TEST_PKGS[@]}")
# ---- end connectors ----------------------------------------------------------------

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
# Services (postgresql, mosquitto) must not be started by their postinst: a
# policy-rc.d that denies every start is in place while apt runs (kept if one exists).
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 0755 "$POLICY"
  own_policy=1
fi
trap '[ "$own_policy" = 1 ] && $SUDO rm -f "$POLICY"' EXIT
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
