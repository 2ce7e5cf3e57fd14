# Bad HTTP input on the status port: huge headers, a huge URL, methods other than GET,
# paths that try to escape, garbage instead of a request line. Each gets an error (JSON
# where the daemon answers itself) or a closed connection; the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
start_daemon tm
host=127.0.0.1; port=${tm_STATUS##*:}
for m in POST PUT DELETE PATCH OPTIONS; do
  code=$(curl -s -o "$WORK/body" -w '%{http_code}' -X "$m" "$tm_STATUS/v1/overview")
  [ "$code" = 405 ] || fail "$m -> $code, expected 405"
  json 'd["error"]' <"$WORK/body" >/dev/null || fail "$m: body is not a JSON error"
done
for p in "/v1/tasks/../../etc/passwd" "/v1/tasks/%2e%2e/%2e%2e" "/v1//overview" "/v2/overview" "/v1/tasks/$(printf 'a%.0s' $(seq 1 64))"; do
  code=$(curl -s -o "$WORK/body" -w '%{http_code}' --path-as-is "$tm_STATUS$p")
  case "$code" in 400|404) ;; *) fail "$p -> $code, expected 400 or 404";; esac
  json 'd["error"]' <"$WORK/body" >/dev/null || fail "$p: body is not a JSON error"
done
python3 - "$host" "$port" <<'PY' || fail "raw HTTP abuse check failed"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
def send(data, what):
    s = socket.create_connection((host, port), timeout=5)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        reply = s.recv(4096)
    except (socket.timeout, ConnectionResetError):
        reply = b""
    s.close()
    status = reply.split(b"\r\n", 1)[0].decode(errors="replace") if reply else "closed"
    assert not status.startswith("HTTP/1.1 200") and not status.startswith("HTTP/1.0 200"), "%s answered 200" % what
    print("%-22s -> %s" % (what, status))
send(b"GET /v1/overview HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n", "200 KB header")
send(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "100 KB URL")
send(b"\x00\xff\x13garbage\r\n\r\n", "garbage request line")
send(b"GET /v1/overview HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc", "huge declared body")
PY
http_get "$tm_STATUS/v1/overview"
[ "$HTTP_CODE" = 200 ] || fail "the status endpoint stopped serving"
