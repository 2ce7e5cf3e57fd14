# Data and status ports under descriptor pressure (issue 19, item 3): a daemon started
# with a file-descriptor limit of 64 (prlimit) gets 100 idle connections on its data
# port that never send anything, held for 12 s. Before the fix the data listener had no
# cap and no error callback: once the descriptors ran out it retried accept() in a
# loop (an I/O thread at ~100 % CPU, ~120,000 "Error from accept()" lines a second) and
# status and RPC stopped accepting. Now the connection caps are fitted to the limit (a
# WARN says so), connections beyond the data cap wait in the backlog, an idle one is
# closed after taskmanager.data.handshake-timeout (3s here), accept errors pause the
# listener and repeated log lines are summed up. Checks, over the 12 s: the daemon uses
# under 0.5 s of CPU, writes under 8 KB of log, serves /v1/overview and tectl slots.
# Then 100 idle connections on the status port: a request is still answered (the
# oldest idle connection is closed at the cap). Afterwards the daemon runs a small job.
. "$(dirname "$0")/lib.sh"
command -v prlimit >/dev/null || skip "prlimit (util-linux) is not installed"
TE_DAEMON_WRAPPER="prlimit --nofile=64:64 --" start_daemon lim -D taskmanager.numberOfTaskSlots=2 \
  -D taskmanager.data.handshake-timeout=3s
grep -q 'file-descriptor limit (64)' "$lim_LOG" || fail "no WARN about fitting the connection limits to 64 descriptors"
DATA=$(sed -n 's/.* READY .*data_port=\([0-9]*\).*/\1/p' "$lim_LOG")
cpu() { awk '{print $14 + $15}' "/proc/$lim_PID/stat"; } # clock ticks
ticks=$(getconf CLK_TCK)
python3 - "$DATA" "$WORK/stop" "$WORK/held" <<'PY' &
import os, socket, sys, time
port, stop, held = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
for _ in range(100):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
open(held, "w").write("100\n")
while not os.path.exists(stop):
    time.sleep(0.1)
for s in socks:
    s.close()
PY
holder=$!
wait_until 10 test -s "$WORK/held" || fail "the idle connections were not opened"
sleep 1
cpu0=$(cpu); log0=$(stat -c %s "$lim_LOG")
served=0
for i in $(seq 1 6); do
  sleep 2
  http_get "$lim_STATUS/v1/overview"
  [ "$HTTP_CODE" = 200 ] && served=$((served + 1))
done
cpu1=$(cpu); log1=$(stat -c %s "$lim_LOG")
"$TECTL" slots --executor "$lim_RPC" >"$WORK/slots.out" 2>&1 || { cat "$WORK/slots.out"; fail "RPC not served with 100 idle data connections"; }
touch "$WORK/stop"; wait $holder
used_ms=$(( (cpu1 - cpu0) * 1000 / ticks ))
logged=$((log1 - log0))
echo "over 12 s with 100 idle data connections: ${used_ms} ms of CPU, ${logged} bytes of log, status served $served/6 times"
tail -5 "$lim_LOG"
[ "$served" -eq 6 ] || fail "status not served while the data port was flooded ($served/6)"
[ "$used_ms" -lt 500 ] || fail "the daemon used ${used_ms} ms of CPU in 12 s while idle connections were held (a spinning listener?)"
[ "$logged" -lt 8192 ] || { tail -20 "$lim_LOG"; fail "the daemon wrote $logged bytes of log in 12 s"; }
grep -q 'no valid request within 3000 ms (taskmanager.data.handshake-timeout)' "$lim_LOG" ||
  fail "idle data connections were not closed by the handshake timeout"
# The status port: 100 idle connections too. Its cap (fitted to the limit) is full at
# at once; connections that send no request are closed to make room, one per loop
# turn, so the backlog of idle ones drains and a request gets through.
STATUS_PORT=${lim_STATUS##*:}
rm -f "$WORK/stop" "$WORK/held"
python3 - "$STATUS_PORT" "$WORK/stop" "$WORK/held" <<'PY2' &
import os, socket, sys, time
port, stop, held = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = []
for _ in range(100):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
open(held, "w").write("100\n")
while not os.path.exists(stop):
    time.sleep(0.1)
for s in socks:
    s.close()
PY2
holder=$!
wait_until 10 test -s "$WORK/held" || fail "the idle status connections were not opened"
sleep 1
cpu0=$(cpu)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$lim_STATUS/v1/overview")
cpu1=$(cpu)
touch "$WORK/stop"; wait $holder
echo "with 100 idle status connections: /v1/overview answered $code, $(( (cpu1 - cpu0) * 1000 / ticks )) ms of CPU meanwhile"
[ "$code" = 200 ] || fail "status not served with 100 idle status connections ($code)"
grep -q 'status connections open (taskmanager.status.max-connections): closing one without a request' "$lim_LOG" ||
  fail "no idle status connection was closed at the cap"

cat >"$WORK/job.json" <<'JSON'
{ "name": "small", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "to": "1000" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$lim_RPC" >"$WORK/job.out" 2>&1 || { cat "$WORK/job.out"; fail "a small job failed afterwards"; }
