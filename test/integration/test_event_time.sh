# Event time end to end through one real daemon:
#  A) out-of-order input with late records -> assign_timestamps (punctuated watermarks,
#     so lateness is deterministic) -> hash -> tumbling count and sliding sum windows at
#     parallelism 2; the results and the numLateRecordsDropped metric on the status
#     endpoint must equal a Python simulation of the same input (Flink's rules: a
#     record is late for a window whose end - 1 <= the watermark it sees).
#  B) an idle channel: a union of a file source and a socket source that connects but
#     stays silent (assign_timestamps idle_timeout marks it idle). The window task's
#     watermark must reach the end (INT64_MAX) while the silent source is still
#     connected, i.e. the idle channel does not stall the windows; after the socket
#     closes the job finishes and the windows equal the Python computation.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_daemon tm -D taskmanager.numberOfTaskSlots=6

python3 - "$WORK/events.txt" <<'PY'
import random, sys
random.seed(42)
base = 10000
with open(sys.argv[1], "w") as f:
    for i in range(4000):
        base += random.randint(0, 6)
        t = base - (random.randint(0, 700) if random.random() < 0.1 else random.randint(0, 80))
        f.write("k%d\t%d\t%d\n" % (random.randint(0, 9), t, random.randint(-5, 50)))
PY

# ---- A: windows and late records ----
mkdir -p "$WORK/tw" "$WORK/sw"
cat >"$WORK/job_a.json" <<JSON
{
  "name": "event-time-windows",
  "vertices": [
    { "id": "src", "parallelism": 1, "chain": [
        { "op": "file_lines", "path": "$WORK/events.txt" },
        { "op": "parse", "fields": "k:string, t:int64, v:int64" },
        { "op": "assign_timestamps", "field": "1", "max_out_of_orderness": "100ms", "watermark_interval": "0" } ] },
    { "id": "tw", "parallelism": 2, "chain": [
        { "op": "tumbling_window", "key_field": "0", "size": "1s", "agg": "count" },
        { "op": "file_sink", "path": "$WORK/tw/part-{subtask}.txt" } ] },
    { "id": "sw", "parallelism": 2, "chain": [
        { "op": "sliding_window", "key_field": "0", "size": "2s", "slide": "500ms", "agg": "sum", "value_field": "2" },
        { "op": "file_sink", "path": "$WORK/sw/part-{subtask}.txt" } ] }
  ],
  "edges": [
    { "from": "src", "to": "tw", "partitioner": "hash", "key_field": 0 },
    { "from": "src", "to": "sw", "partitioner": "hash", "key_field": 0 }
  ]
}
JSON
"$TECTL" submit "$WORK/job_a.json" --executor "$tm_RPC" >"$WORK/tectl_a.out" 2>&1 || { cat "$WORK/tectl_a.out"; fail "tectl submit (windows) failed"; }

python3 - "$WORK/events.txt" "$WORK" <<'PY'
import sys
from collections import defaultdict
T, S = defaultdict(int), defaultdict(int)
late_t = late_s = 0
wm = None; mx = None
for line in open(sys.argv[1]):
    k, t, v = line.rstrip("\n").split("\t"); t = int(t); v = int(v)
    s = t - t % 1000
    if wm is not None and s + 999 <= wm: late_t += 1
    else: T[(k, s)] += 1
    added = False
    s = t - t % 500
    while s > t - 2000:
        if wm is None or s + 1999 > wm:
            S[(k, s)] += v; added = True
        s -= 500
    if not added: late_s += 1
    mx = t if mx is None else max(mx, t)
    wm = mx - 100 - 1
w = sys.argv[2]
open(w + "/tw.expected", "w").write("".join(sorted("%s\t%d\t%d\t%d\n" % (k, s, s + 1000, c) for (k, s), c in T.items())))
open(w + "/sw.expected", "w").write("".join(sorted("%s\t%d\t%d\t%d\n" % (k, s, s + 2000, c) for (k, s), c in S.items())))
open(w + "/late", "w").write("%d %d\n" % (late_t, late_s))
PY
read late_t late_s <"$WORK/late"
[ "$late_t" -gt 0 ] || fail "the generated input has no late records for the tumbling window (test data problem)"
cat "$WORK"/tw/part-*.txt | sort >"$WORK/tw.actual"
cat "$WORK"/sw/part-*.txt | sort >"$WORK/sw.actual"
diff -u "$WORK/tw.expected" "$WORK/tw.actual" | head -10
cmp -s "$WORK/tw.expected" "$WORK/tw.actual" || fail "tumbling window counts differ from the Python computation"
diff -u "$WORK/sw.expected" "$WORK/sw.actual" | head -10
cmp -s "$WORK/sw.expected" "$WORK/sw.actual" || fail "sliding window sums differ from the Python computation"

http_get "$tm_STATUS/v1/tasks"; body=$HTTP_BODY
[ "$HTTP_CODE" = 200 ] || fail "GET /v1/tasks -> $HTTP_CODE"
got_t=$(json 'sum(t["metrics"]["numLateRecordsDropped"] for t in d["tasks"]+d["finished_history"] if t["name"].startswith("tw"))' <<<"$body")
got_s=$(json 'sum(t["metrics"]["numLateRecordsDropped"] for t in d["tasks"]+d["finished_history"] if t["name"].startswith("sw"))' <<<"$body")
[ "$got_t" = "$late_t" ] || fail "tumbling tasks report numLateRecordsDropped=$got_t, Python counts $late_t"
[ "$got_s" = "$late_s" ] || fail "sliding tasks report numLateRecordsDropped=$got_s, Python counts $late_s"
echo "windows match Python ($(wc -l <"$WORK/tw.expected") tumbling, $(wc -l <"$WORK/sw.expected") sliding; late $late_t / $late_s)"

# ---- B: an idle channel does not stall the windows ----
python3 - "$WORK/port" "$WORK/close" <<'PY' &
import socket, sys, os, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(60)
c, _ = s.accept()
for _ in range(600):
    if os.path.exists(sys.argv[2]): break
    time.sleep(0.1)
c.close(); s.close()
PY
SERVER=$!
wait_until 10 test -s "$WORK/port" || fail "the silent socket server did not start"
port=$(cat "$WORK/port")
mkdir -p "$WORK/iw"
cat >"$WORK/job_b.json" <<JSON
{
  "name": "idle-channel",
  "vertices": [
    { "id": "data", "parallelism": 1, "chain": [
        { "op": "file_lines", "path": "$WORK/events.txt" },
        { "op": "parse", "fields": "k:string, t:int64, v:int64" },
        { "op": "assign_timestamps", "field": "1", "max_out_of_orderness": "1s", "watermark_interval": "50ms" } ] },
    { "id": "quiet", "parallelism": 1, "chain": [
        { "op": "socket_text", "host": "127.0.0.1", "port": "$port" },
        { "op": "parse", "fields": "k:string, t:int64, v:int64" },
        { "op": "assign_timestamps", "field": "1", "idle_timeout": "300ms" } ] },
    { "id": "iw", "parallelism": 1, "chain": [
        { "op": "union" },
        { "op": "tumbling_window", "size": "1s" },
        { "op": "file_sink", "path": "$WORK/iw/part-{subtask}.txt" } ] }
  ],
  "edges": [
    { "from": "data", "to": "iw", "partitioner": "forward", "input": 0 },
    { "from": "quiet", "to": "iw", "partitioner": "forward", "input": 1 }
  ]
}
JSON
submit_bg "$WORK/tectl_b.out" "$WORK/job_b.json" --executor "$tm_RPC"
TECTL_PID=$SUBMIT_PID
iw_watermark() {
  http_get "$tm_STATUS/v1/tasks"
  [ "$HTTP_CODE" = 200 ] || return 1
  local wm
  wm=$(json '[t["metrics"]["currentInputWatermark"] for t in d["tasks"] if t["name"].startswith("iw")]' <<<"$HTTP_BODY")
  [ "$wm" = "[9223372036854775807]" ]
}
if ! wait_until 30 iw_watermark; then
  touch "$WORK/close"; wait "$TECTL_PID"
  fail "the window task's watermark never passed the silent (idle) channel: $(json '[(t["name"], t["metrics"]["currentInputWatermark"]) for t in d["tasks"]]' <<<"$HTTP_BODY")"
fi
kill -0 "$SERVER" 2>/dev/null || fail "the silent source disconnected early (the check above proved nothing)"
touch "$WORK/close"
wait "$TECTL_PID" || { cat "$WORK/tectl_b.out"; fail "tectl submit (idle channel) failed"; }
wait "$SERVER" 2>/dev/null
python3 - "$WORK/events.txt" >"$WORK/iw.expected" <<'PY'
import sys
from collections import Counter
c = Counter()
for line in open(sys.argv[1]):
    k, t, v = line.split("\t"); t = int(t)
    c[(k, t - t % 1000)] += 1
print("".join(sorted("%s\t%d\t%d\t%d\n" % (k, s, s + 1000, n) for (k, s), n in c.items())), end="")
PY
sort "$WORK"/iw/part-*.txt >"$WORK/iw.actual"
diff -u "$WORK/iw.expected" "$WORK/iw.actual" | head -10
cmp -s "$WORK/iw.expected" "$WORK/iw.actual" || fail "idle-channel windows differ from the Python computation"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the jobs"
echo "idle channel did not stall the windows; results match Python"
