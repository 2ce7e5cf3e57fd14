# security.auth.token-file (issue #6): a token file readable by group or others stops
# start-up (issue 19: naming file and mode) unless security.allow-insecure-permissions;
# tectl works only with the right token; raw
# sockets that skip the challenge-response are refused on the RPC and data ports
# (also garbage sent first); the daemon keeps serving; a 2-daemon job with remote
# channels authenticates daemon to daemon; a missing / short token file stops start-up.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
head -c 48 /dev/urandom | base64 -w0 >"$WORK/token"
head -c 48 /dev/urandom | base64 -w0 >"$WORK/wrong"
printf 'short' >"$WORK/short"
chmod 600 "$WORK/token" "$WORK/wrong" "$WORK/short"

# Secrets others can read refuse start-up, naming the file and its mode (as ssh does);
# security.allow-insecure-permissions starts with a loud WARN instead.
cp "$WORK/token" "$WORK/loose"; chmod 640 "$WORK/loose"
if timeout 10 "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
     -D security.auth.token-file="$WORK/loose" >"$WORK/loose.log" 2>&1; then fail "daemon started with a group-readable token file"; fi
grep -q "security.auth.token-file '$WORK/loose' has mode 0640: it must not be readable or writable by group or others" "$WORK/loose.log" ||
  { cat "$WORK/loose.log"; fail "loose token file: file and mode not named"; }
start_daemon insecure -D security.auth.token-file="$WORK/loose" -D security.allow-insecure-permissions=true
grep -q "WARN .*security.auth.token-file '$WORK/loose' has mode 0640: it is accessible by group or others" "$insecure_LOG" ||
  fail "no WARN about the loose token file with security.allow-insecure-permissions"

# Start-up refusals name the key and the problem.
if timeout 10 "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
     -D security.auth.token-file="$WORK/nope" >"$WORK/nope.log" 2>&1; then fail "daemon started with a missing token file"; fi
grep -q 'security.auth.token-file' "$WORK/nope.log" || { cat "$WORK/nope.log"; fail "missing token file: key not named"; }
if timeout 10 "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
     -D security.auth.token-file="$WORK/short" >"$WORK/short.log" 2>&1; then fail "daemon started with a 5-byte token"; fi
grep -q 'at least 16' "$WORK/short.log" || { cat "$WORK/short.log"; fail "short token file: problem not named"; }

for n in a b; do start_daemon "$n" -D taskmanager.numberOfTaskSlots=2 -D security.auth.token-file="$WORK/token"; done
a_DATA=$(sed -n 's/.* READY .*data_port=\([0-9]*\).*/\1/p' "$a_LOG")

# tectl: no token, wrong token (flag and env), right token.
if "$TECTL" slots --executor "$a_RPC" >"$WORK/t1" 2>&1; then fail "tectl without a token was served"; fi
grep -q 'requires authentication' "$WORK/t1" || { cat "$WORK/t1"; fail "no-token error does not say authentication is required"; }
if "$TECTL" slots --executor "$a_RPC" --token-file "$WORK/wrong" >"$WORK/t2" 2>&1; then fail "tectl with a wrong token was served"; fi
grep -q 'authentication failed' "$WORK/t2" || { cat "$WORK/t2"; fail "wrong-token error does not say authentication failed"; }
if TE_TOKEN_FILE="$WORK/wrong" "$TECTL" slots --executor "$a_RPC" >"$WORK/t3" 2>&1; then fail "TE_TOKEN_FILE with a wrong token was served"; fi
"$TECTL" slots --executor "$a_RPC" --token-file "$WORK/token" >"$WORK/t4" 2>&1 || { cat "$WORK/t4"; fail "tectl with the right token failed"; }
grep -q 'FREE' "$WORK/t4" || fail "slot report missing with the right token"
TE_TOKEN_FILE="$WORK/token" "$TECTL" slots --executor "$a_RPC" >/dev/null 2>&1 || fail "TE_TOKEN_FILE with the right token failed"

# Raw sockets (Python): skip the handshake / send garbage / replay a recorded answer.
python3 - "$a_RPC" "$a_DATA" "$WORK/token" <<'PY' || fail "raw-socket checks failed"
import hashlib, hmac, os, socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1); port = int(port); dport = int(sys.argv[2])
secret = open(sys.argv[3], "rb").read().rstrip(b"\r\n")
def recv_all(s, limit=4096):
    out = b""
    s.settimeout(5)
    try:
        while len(out) < limit:
            b = s.recv(limit - len(out))
            if not b: break
            out += b
    except socket.timeout:
        raise SystemExit("server neither answered nor closed within 5 s")
    return out
def conn(p):
    s = socket.create_connection((host, p)); ch = b""
    while len(ch) < 36: ch += s.recv(36 - len(ch))
    assert ch[:4] == b"TEA1", ch
    return s, ch[4:]
# 1. an RPC frame without the handshake -> Response "authentication failed", closed
s, _ = conn(port)
s.sendall(struct.pack(">I", 2) + b"\x08\x01"); r = recv_all(s)
assert b"authentication failed" in r, r
# 2. garbage before the handshake (RPC and data port) -> refused and closed
for p in (port, dport):
    s, _ = conn(p); s.sendall(os.urandom(200)); r = recv_all(s)
    assert b"TEAS" not in r, ("garbage accepted", p)
# 3. replay: a correct answer to challenge A sent for challenge B is rejected
def answer(sn, cn):
    return b"TEA1" + cn + hmac.new(secret, b"te-auth-client-v1" + sn + cn, hashlib.sha256).digest()
s, sn = conn(port); cn = os.urandom(32); rec = answer(sn, cn)
s.sendall(rec); r = recv_all(s, 36)
assert r[:4] == b"TEAS" and r[4:] == hmac.new(secret, b"te-auth-server-v1" + cn + sn, hashlib.sha256).digest(), r
s.close()
s, sn2 = conn(port); assert sn2 != sn, "nonce reused"
s.sendall(rec); r = recv_all(s)
assert b"TEAS" not in r and b"authentication failed" in r, r
# 4. the same replay on the data port: closed without confirmation
s, dsn = conn(dport); s.sendall(answer(os.urandom(32), cn)); r = recv_all(s)
assert r == b"", r
print("raw-socket checks ok")
PY
grep -q 'authentication failed' "$a_LOG" || fail "daemon did not log the refused peer"
grep -q 'data connection from 127.0.0.1:[0-9]*: authentication failed' "$a_LOG" || fail "data port refusal not logged with the peer"

# Still serving; a 2-daemon job with remote channels authenticates on the data port.
mkdir -p "$WORK/out"
INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)
wordcount_job wordcount-auth "$INPUT" 2 2 2 '"execution.buffer-timeout": "5ms"' >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" --token-file "$WORK/token" >"$WORK/submit.out" 2>&1 \
  || { cat "$WORK/submit.out"; tail -20 "$a_LOG" "$b_LOG"; fail "2-daemon job with authentication failed"; }
word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort >"$WORK/actual.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "word counts with authentication differ from coreutils"
kill -0 "$a_PID" && kill -0 "$b_PID" || fail "a daemon died"
echo "auth: tokens enforced on RPC and data ports; 2-daemon word count matches coreutils"
