# Bad frames sent to a daemon's data port (taskmanager.data.port): garbage, a bad
# magic, an unknown message id, an oversized length, a truncated frame then EOF. Each
# is answered with an ErrorResponse and/or a closed connection; the daemon serves on:
# a job across two daemons still runs correctly afterwards.
. "$(dirname "$0")/lib.sh"
start_daemon a -D taskmanager.numberOfTaskSlots=2
start_daemon b -D taskmanager.numberOfTaskSlots=2
data_port() { sed -n 's/.* READY .*data_port=\([0-9]*\).*/\1/p' "$1" | head -1; }
A_DATA=$(data_port "$a_LOG")
[ -n "$A_DATA" ] && [ "$A_DATA" -gt 0 ] || fail "no data port in the READY line"

python3 - "$A_DATA" <<'PY' || fail "the data port mishandled a bad frame"
import socket, struct, sys
port = int(sys.argv[1])
MAGIC = 0xBADC0FFE
cases = {
  "garbage":   b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
  "bad magic": struct.pack(">IIB", 9, 0xDEADBEEF, 5),
  "unknown id": struct.pack(">IIB", 9, MAGIC, 3),
  "oversized": struct.pack(">IIB", 1 << 30, MAGIC, 2) + b"x" * 100,
  "wrong length": struct.pack(">IIB", 12, MAGIC, 6) + b"abc",
  "server-only message": struct.pack(">IIB16sIIBBI", 39, MAGIC, 0, b"r" * 16, 0, 0, 0, 0, 0),
}
for name, data in cases.items():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        print(f"{name}: the connection stayed open with no answer", file=sys.stderr)
        sys.exit(1)
    s.close()
    if got:
        length, magic, mid = struct.unpack(">IIB", got[:9])
        if magic != MAGIC or mid != 1:
            print(f"{name}: answer is not an ErrorResponse: {got[:20]!r}", file=sys.stderr)
            sys.exit(1)
        code, mlen = struct.unpack(">HH", got[25:29])
        msg = got[29:29 + mlen].decode(errors="replace")
        if code != 2:
            print(f"{name}: error code {code}, expected 2 (protocol): {msg}", file=sys.stderr)
            sys.exit(1)
        print(f"{name}: ErrorResponse {msg!r}, then closed")
    else:
        print(f"{name}: closed")
# A truncated frame then EOF: nothing to answer; the server must just drop it.
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(struct.pack(">IIB", 49, MAGIC, 2) + b"\0" * 10)
s.shutdown(socket.SHUT_WR)
s.recv(100)
s.close()
PY
kill -0 "$a_PID" || fail "daemon a died"

# Still serving: a job with a remote channel b <- a.
mkdir -p "$WORK/out"
cat >"$WORK/job.json" <<JSON
{ "name": "after-bad-frames",
  "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": 20000 } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" >"$WORK/tectl.out" 2>&1 \
  || { cat "$WORK/tectl.out"; fail "job after bad frames failed"; }
cmp -s <(seq 1 20000) <(cat "$WORK"/out/part-*.txt | sort -n) || fail "job output after bad frames is wrong"
[ -s "$WORK/out/part-1.txt" ] || fail "the remote subtask got no records"
wait_until 10 daemon_idle "$a_STATUS" || fail "daemon a not idle after the job"
wait_until 10 daemon_idle "$b_STATUS" || fail "daemon b not idle after the job"
echo "bad frames answered or dropped; daemon served a job afterwards"
