# Limits and confinement: io.allowed-dirs confines the file paths a job may name (a job
# cannot override it in its own config), taskmanager.slot.max-tasks bounds a slot, and
# taskmanager.rpc.max-connections refuses connections beyond it — each with an error
# naming the limit; the daemon keeps serving.
. "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/allowed" "$WORK/elsewhere"
seq 1 100 >"$WORK/allowed/in.txt"; seq 1 100 >"$WORK/elsewhere/in.txt"
start_daemon tm -D io.allowed-dirs="$WORK/allowed" -D taskmanager.slot.max-tasks=2 -D taskmanager.rpc.max-connections=8
job() { # job INPUT OUTPUT [extra config]
  cat <<JSON
{ "name": "paths", "config": { ${3:-} }, "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "file_lines", "path": "$1" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$2" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "forward" } ] }
JSON
}
job "$WORK/allowed/in.txt" "$WORK/allowed/sub/out.txt" >"$WORK/ok.json"
"$TECTL" submit "$WORK/ok.json" --executor "$tm_RPC" >"$WORK/ok.out" 2>&1 || { cat "$WORK/ok.out"; fail "a job inside io.allowed-dirs failed"; }
cmp -s "$WORK/allowed/in.txt" "$WORK/allowed/sub/out.txt" || fail "output differs"
refused() { # refused JSON PATTERN
  if "$TECTL" submit "$1" --executor "$tm_RPC" >"$1.out" 2>&1; then fail "$1 was accepted"; fi
  grep -q -- "$2" "$1.out" || { cat "$1.out"; fail "refusal of $1 does not say: $2"; }
}
job "$WORK/elsewhere/in.txt" "$WORK/allowed/o.txt" >"$WORK/src.json";  refused "$WORK/src.json" "outside io.allowed-dirs"
job "$WORK/allowed/in.txt" "$WORK/elsewhere/o.txt" >"$WORK/sink.json"; refused "$WORK/sink.json" "outside io.allowed-dirs"
job "$WORK/allowed/in.txt" "$WORK/allowed/../elsewhere/o.txt" >"$WORK/dots.json"; refused "$WORK/dots.json" "outside io.allowed-dirs"
ln -s "$WORK/elsewhere" "$WORK/allowed/link"
job "$WORK/allowed/link/in.txt" "$WORK/allowed/o.txt" >"$WORK/link.json"; refused "$WORK/link.json" "outside io.allowed-dirs"
job "$WORK/elsewhere/in.txt" "$WORK/allowed/o.txt" "\"io.allowed-dirs\": \"/\"" >"$WORK/override.json"
refused "$WORK/override.json" "outside io.allowed-dirs"
[ ! -e "$WORK/elsewhere/o.txt" ] || fail "a refused sink created its file"
# The checkpoint directory a job names is confined too.
if "$TECTL" submit "$WORK/ok.json" --executor "$tm_RPC" --checkpoint-interval 1s \
     --checkpoint-dir "$WORK/elsewhere/ck" >"$WORK/ck.out" 2>&1; then fail "a checkpoint dir outside io.allowed-dirs was accepted"; fi
grep -q "state.checkpoints.dir.*outside io.allowed-dirs" "$WORK/ck.out" || { cat "$WORK/ck.out"; fail "the refusal does not name state.checkpoints.dir"; }

# Three chained vertices share one slot: 3 tasks > max-tasks 2.
cat >"$WORK/wide.json" <<'JSON'
{ "name": "three", "vertices": [
    { "id": "a", "parallelism": 1, "chain": [ { "op": "sequence", "unbounded": "true" } ] },
    { "id": "b", "parallelism": 1, "chain": [ { "op": "upper" } ] },
    { "id": "c", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "a", "to": "b", "partitioner": "forward" }, { "from": "b", "to": "c", "partitioner": "forward" } ] }
JSON
refused "$WORK/wide.json" "taskmanager.slot.max-tasks"

python3 - "${tm_RPC%:*}" "${tm_RPC##*:}" <<'PY' || fail "connection limit not enforced"
import socket, struct, sys, time
host, port = sys.argv[1], int(sys.argv[2])
held = [socket.create_connection((host, port), timeout=5) for _ in range(8)]
time.sleep(0.2)
extra = socket.create_connection((host, port), timeout=5)
data = b""
try:
    while True:
        c = extra.recv(4096)
        if not c:
            break
        data += c
except (socket.timeout, ConnectionResetError):
    pass
assert b"limit of 8 open RPC connections" in data or data == b"", data[:200]
print("9th connection:", "refused with a reply" if data else "closed")
for s in held:
    s.close()
PY
# taskmanager.rpc.idle-timeout: a silent connection is closed, a talking one is not.
start_daemon idle -D taskmanager.rpc.idle-timeout=300ms
python3 - "${idle_RPC%:*}" "${idle_RPC##*:}" <<'PY' || fail "RPC idle timeout not enforced"
import socket, struct, sys, time
host, port = sys.argv[1], int(sys.argv[2])
silent = socket.create_connection((host, port), timeout=5)
talking = socket.create_connection((host, port), timeout=5)
hb = struct.pack(">I", 5) + b"\x08\x01\x92\x01\x00"  # RpcMessage{call_id 1, heartbeat {}}
end = time.time() + 1.2
while time.time() < end:
    talking.sendall(hb)
    talking.recv(4096)
    time.sleep(0.1)
silent.settimeout(2)
assert silent.recv(1) == b"", "the silent connection is still open after 1.2 s"
talking.sendall(hb)
assert talking.recv(4096), "the talking connection was closed"
print("silent connection closed after the idle timeout; a heartbeating one stays open")
PY
grep -q "taskmanager.rpc.idle-timeout" "$idle_LOG" || fail "the idle close is not logged"
wait_until 10 daemon_idle "$tm_STATUS" || fail "daemon not idle after the refusals"
"$TECTL" submit "$WORK/ok.json" --executor "$tm_RPC" >/dev/null 2>&1 || fail "daemon does not serve after the limits were hit"
