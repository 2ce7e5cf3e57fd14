# RPC input buffering is bounded and given back (issue 19, item 4): 50 connections each
# announce a frame of 10 MB - 1 (just under taskmanager.rpc.max-frame-size) and send all
# of it but the last byte. Before the fix every connection buffered its whole frame
# (RSS 6 MB -> 525 MB, still 513 MB after they closed). Now all connections together
# may hold taskmanager.rpc.max-buffered-bytes (64mb by default): beyond it the
# connection holding the most is closed with an error naming the limit. Checks: the
# daemon's RSS stays under its idle RSS + 64 MB + 48 MB (slack for the allocator and
# socket bookkeeping), falls back to idle + 16 MB once the connections closed (freed
# frame memory goes back to the system), and the daemon still serves RPC and status.
# A daemon under a sanitizer or wrapper only checks the refusals (its RSS means nothing).
. "$(dirname "$0")/lib.sh"
start_daemon tm
rss() { awk '/^VmRSS/ {print $2}' "/proc/$tm_PID/status"; }
sleep 0.5
rss0=$(rss)
python3 - "${tm_RPC%:*}" "${tm_RPC##*:}" "$WORK/hold" "$WORK/stop" <<'PY' &
import os, socket, struct, sys, time
host, port, hold, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
size = 10 * 1024 * 1024 - 1
chunk = b"\0" * (1 << 20)
socks, refused = [], 0
for i in range(50):
    s = socket.create_connection((host, port))
    try:
        s.sendall(struct.pack(">I", size))
        left = size - 1
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
    except OSError:
        refused += 1
    socks.append(s)
# read whatever the daemon answered (an error Response naming the limit, then EOF)
named = 0
for s in socks:
    s.settimeout(0.2)
    try:
        data = s.recv(65536)
        named += b"taskmanager.rpc.max-buffered-bytes" in data
    except OSError:
        pass
print(f"{refused} sends failed, {named} replies named taskmanager.rpc.max-buffered-bytes", flush=True)
open(hold, "w").write(f"{named}\n")
while not os.path.exists(stop):
    time.sleep(0.1)
for s in socks:
    s.close()
PY
sender=$!
wait_until 120 test -s "$WORK/hold" || { touch "$WORK/stop"; fail "the sender did not finish"; }
rss1=$(rss)
named=$(cat "$WORK/hold")
[ "$named" -ge 20 ] || { touch "$WORK/stop"; fail "only $named of 50 connections were refused naming taskmanager.rpc.max-buffered-bytes (6 fit in 64 MB)"; }
grep -q 'RPC input budget exhausted' "$tm_LOG" || { touch "$WORK/stop"; fail "no WARN about the input budget"; }
touch "$WORK/stop"; wait $sender
fell() { [ "$(rss)" -lt $((rss0 + 16384)) ]; }
settled=1; wait_until 10 fell || settled=0
rss2=$(rss)
echo "RSS idle ${rss0} kB, with 50 unfinished 10 MB frames ${rss1} kB, after they closed ${rss2} kB"
if daemon_instrumented; then
  skip_check_by_design "RSS bounds" "the daemon runs under a sanitizer or a wrapper (memory is measured without one)"
else
  [ "$rss1" -lt $((rss0 + 65536 + 49152)) ] || fail "RSS grew from $rss0 to $rss1 kB: input not bounded by the budget"
  [ "$settled" = 1 ] || fail "RSS stayed at $rss2 kB (idle $rss0 kB) after the connections closed"
fi
"$TECTL" slots --executor "$tm_RPC" >/dev/null || fail "RPC not served after the spike"
http_get "$tm_STATUS/v1/overview"; [ "$HTTP_CODE" = 200 ] || fail "status not served after the spike"
