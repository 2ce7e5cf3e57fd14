# The status port's own security (issue 19, item 7): a request path that is not UTF-8
# gets a JSON 400 (before: an HTML 500 "cannot encode the reply"); an HTTP version
# other than 1.0/1.1 gets a JSON 505 in HTTP/1.1 (before: "HTTP/1.9 200", the client's
# version echoed); taskmanager.status.bind-host puts the status port on another
# address than RPC; with taskmanager.status.token-file every path but
# taskmanager.status.open-paths (/metrics and / by default) needs
# "Authorization: Bearer <token>" (401 JSON otherwise), and the open paths are
# configurable; a token file others can read stops start-up.
. "$(dirname "$0")/lib.sh"
start_daemon plain
raw() { # raw PORT REQUEST(printf format) -> the whole reply on stdout
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
s.settimeout(3)
d = b""
try:
    while True:
        c = s.recv(4096)
        if not c:
            break
        d += c
except OSError:
    pass
sys.stdout.write(d.decode("latin-1"))
PY
}
SP=${plain_STATUS##*:}
r=$(raw "$SP" 'GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
head -1 <<<"$r" | grep -q '^HTTP/1.1 400' || { echo "$r"; fail "a non-UTF-8 path did not get 400"; }
grep -q 'Content-Type: application/json' <<<"$r" || { echo "$r"; fail "the 400 is not JSON"; }
grep -q '"error":"the request path is not valid UTF-8","path":"/v1/%FF%FE"' <<<"$r" || { echo "$r"; fail "the 400 does not say why"; }
r=$(raw "$SP" 'GET /v1/overview HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n')
head -1 <<<"$r" | grep -q '^HTTP/1.1 505' || { echo "$r"; fail "HTTP/1.9 was not answered 505 in HTTP/1.1"; }
grep -q '1\.9' <<<"$r" && { echo "$r"; fail "the bad HTTP version was echoed"; }
grep -q '"status":505' <<<"$r" || fail "the 505 is not JSON"
r=$(raw "$SP" 'GET /v1/overview HTTP/0.9\r\n\r\n')
head -1 <<<"$r" | grep -q '^HTTP/1.1 505' || { echo "$r"; fail "HTTP/0.9 was not answered 505"; }
echo "non-UTF-8 path -> JSON 400; HTTP/1.9 and 0.9 -> JSON 505 in HTTP/1.1"

# taskmanager.status.bind-host
start_daemon split -D taskmanager.bind-host=127.0.0.1 -D taskmanager.status.bind-host=127.0.0.2
SPP=${split_STATUS##*:}
http_get "http://127.0.0.2:$SPP/v1/overview"; [ "$HTTP_CODE" = 200 ] || fail "status not served on taskmanager.status.bind-host"
http_get "http://127.0.0.1:$SPP/v1/overview"; [ "$HTTP_CODE" = 000 ] || fail "status also answered on 127.0.0.1 ($HTTP_CODE)"
"$TECTL" slots --executor "$split_RPC" >/dev/null || fail "RPC not on taskmanager.bind-host"
grep -q "status server listening on 127.0.0.2:$SPP" "$split_LOG" || fail "the status address is not logged"

# token auth
head -c 32 /dev/urandom | base64 -w0 >"$WORK/stok"
chmod 600 "$WORK/stok"
TOK=$(cat "$WORK/stok")
start_daemon tok -D taskmanager.status.token-file="$WORK/stok"
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
[ "$(code "$tok_STATUS/v1/overview")" = 401 ] || fail "/v1/overview without the token was not 401"
grep -q 'needs the status token' "$WORK/body" || fail "the 401 does not say what is needed"
[ "$(curl -s -o /dev/null -D - "$tok_STATUS/v1/tasks" | grep -ci '^WWW-Authenticate: Bearer')" = 1 ] || fail "no WWW-Authenticate"
[ "$(code -H "Authorization: Bearer wrong-token-wrong-token" "$tok_STATUS/v1/overview")" = 401 ] || fail "a wrong token was accepted"
[ "$(code -H "Authorization: Bearer $TOK" "$tok_STATUS/v1/overview")" = 200 ] || fail "the right token was refused"
[ "$(code -H "Authorization: Bearer $TOK" "$tok_STATUS/v1/slots")" = 200 ] || fail "the right token was refused on /v1/slots"
[ "$(code "$tok_STATUS/metrics")" = 200 ] || fail "/metrics needs the token (it is open by default)"
[ "$(code "$tok_STATUS/")" = 200 ] || fail "/ needs the token (it is open by default)"
start_daemon tok2 -D taskmanager.status.token-file="$WORK/stok" -D taskmanager.status.open-paths=/metrics
[ "$(code "$tok2_STATUS/")" = 401 ] || fail "/ is open although taskmanager.status.open-paths=/metrics"
[ "$(code "$tok2_STATUS/metrics")" = 200 ] || fail "/metrics is not open"
chmod 644 "$WORK/stok"
if timeout 10 "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
     -D taskmanager.status.token-file="$WORK/stok" >"$WORK/loose.log" 2>&1; then fail "daemon started with a world-readable status token"; fi
grep -q "taskmanager.status.token-file '$WORK/stok' has mode 0644" "$WORK/loose.log" || { cat "$WORK/loose.log"; fail "loose status token: file and mode not named"; }
echo "status token: 401 without or with a wrong token, 200 with it; /metrics and / open by default, configurable"
