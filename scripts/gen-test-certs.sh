#!/usr/bin/env bash
# gen-test-certs.sh DIR — generates a throw-away PKI for TLS tests into DIR (created):
#   ca.pem / ca.key            test CA
#   server.pem / server.key    daemon certificate (CN=taskexecutord, SAN IP:127.0.0.1, DNS:localhost)
#   client.pem / client.key    client certificate for mutual TLS (CN=tectl)
#   other-ca.pem               an unrelated CA (for "wrong CA" tests)
# EC P-256 keys, valid 2 days. Nothing here belongs in git: use a temp dir.
set -euo pipefail
dir=${1:?usage: gen-test-certs.sh DIR}
command -v openssl >/dev/null || { echo "gen-test-certs: openssl CLI not found (apt-get install openssl)" >&2; exit 2; }
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=te-test-ca" -out ca.pem 2>/dev/null
key other-ca.key
openssl req -x509 -new -key other-ca.key -sha256 -days 2 -subj "/CN=te-other-ca" -out other-ca.pem 2>/dev/null
sign() { # name CN ext
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
sign server taskexecutord "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
sign client tectl "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
