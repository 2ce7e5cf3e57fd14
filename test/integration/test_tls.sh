# security.ssl.* (issue #6): RPC and data ports over TLS with mutual authentication
# and the token on top. A 2-daemon word count over TLS equals coreutils; a plaintext
# client, a client trusting another CA and a client without a certificate are refused;
# the daemon keeps serving; a key readable by others stops start-up (issue 19).
# Certificates come from scripts/gen-test-certs.sh.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
command -v openssl >/dev/null || skip "the openssl CLI is not installed (scripts/install-deps.sh test)"
C="$WORK/certs"
bash "$ROOT/scripts/gen-test-certs.sh" "$C" || fail "gen-test-certs.sh failed"
head -c 48 /dev/urandom | base64 -w0 >"$WORK/token"
chmod 600 "$WORK/token"
TLS=(-D security.ssl.enabled=true -D security.ssl.certificate="$C/server.pem" -D security.ssl.key="$C/server.key"
     -D security.ssl.ca="$C/ca.pem" -D security.ssl.require-client-cert=true -D security.auth.token-file="$WORK/token")
# A private key readable by others stops start-up, naming the file and its mode.
cp "$C/server.key" "$WORK/loose.key"; chmod 644 "$WORK/loose.key"
if timeout 10 "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 "${TLS[@]}" \
     -D security.ssl.key="$WORK/loose.key" >"$WORK/loose.log" 2>&1; then fail "daemon started with a world-readable TLS key"; fi
grep -q "security.ssl.key '$WORK/loose.key' has mode 0644" "$WORK/loose.log" || { cat "$WORK/loose.log"; fail "loose key: file and mode not named"; }
for n in a b; do start_daemon "$n" -D taskmanager.numberOfTaskSlots=2 "${TLS[@]}"; done
GOOD=(--tls-ca "$C/ca.pem" --tls-cert "$C/client.pem" --tls-key "$C/client.key" --token-file "$WORK/token")

# Refusals.
if "$TECTL" slots --executor "$a_RPC" --token-file "$WORK/token" >"$WORK/r1" 2>&1; then fail "plaintext client served by a TLS port"; fi
if "$TECTL" slots --executor "$a_RPC" --tls-ca "$C/other-ca.pem" --tls-cert "$C/client.pem" --tls-key "$C/client.key" \
     --token-file "$WORK/token" >"$WORK/r2" 2>&1; then fail "client trusting another CA connected"; fi
grep -q 'not trusted' "$WORK/r2" || { cat "$WORK/r2"; fail "wrong-CA error does not say the certificate is not trusted"; }
if "$TECTL" slots --executor "$a_RPC" --tls-ca "$C/ca.pem" --token-file "$WORK/token" >"$WORK/r3" 2>&1; then
  fail "mutual TLS: a client without a certificate was served"; fi
grep -q 'TLS error' "$a_LOG" || fail "daemon did not log the TLS refusals"
# A plaintext data-port client gets nothing but a closed connection.
a_DATA=$(sed -n 's/.* READY .*data_port=\([0-9]*\).*/\1/p' "$a_LOG")
python3 - "$a_DATA" <<'PY' || fail "plaintext data-port check failed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
s.sendall(b"\x00\x00\x00\x20" + b"\x00" * 28)
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b: break
        data += b
except (socket.timeout, ConnectionResetError):
    pass
assert b"TEA1" not in data, "plaintext data client reached the handshake"
PY

# Served with the right CA, certificate and token; a 2-daemon word count over TLS.
"$TECTL" slots --executor "$a_RPC" "${GOOD[@]}" >"$WORK/ok" 2>&1 || { cat "$WORK/ok"; fail "tectl over TLS failed"; }
grep -q FREE "$WORK/ok" || fail "no slot report over TLS"
mkdir -p "$WORK/out"
INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)
wordcount_job wordcount-tls "$INPUT" 2 2 2 '"execution.buffer-timeout": "5ms"' >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" "${GOOD[@]}" >"$WORK/submit.out" 2>&1 \
  || { cat "$WORK/submit.out"; fail "2-daemon word count over TLS failed"; }
word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort >"$WORK/actual.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "word counts over TLS differ from coreutils"
for n in a b; do st="${n}_STATUS"; wait_until 10 daemon_idle "${!st}" || fail "daemon $n not idle after the TLS job"; done
echo "tls: mutual TLS + token enforced; 2-daemon word count over TLS matches coreutils"
