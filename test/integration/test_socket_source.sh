# A blocking source (socket_text, run in its own source thread under the checkpoint
# lock) reads lines from a real TCP server; upper-cased lines reach a file sink through
# a partition. The output equals `tr a-z A-Z` of what the server sent.
. "$(dirname "$0")/lib.sh"
start_daemon tm
seq 1 20000 | sed 's/^/line number /' >"$WORK/input.txt"
# A one-shot server on an ephemeral port: sends the file, then closes.
python3 - "$WORK/input.txt" "$WORK/port" <<'PY' &
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(1)
open(sys.argv[2], "w").write(str(srv.getsockname()[1]))
srv.settimeout(30)
c, _ = srv.accept()
c.sendall(open(sys.argv[1], "rb").read())
c.close(); srv.close()
PY
server=$!
wait_until 5 test -s "$WORK/port" || fail "server did not start"
port=$(cat "$WORK/port")
cat >"$WORK/job.json" <<JSON
{ "name": "socket", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "socket_text", "host": "127.0.0.1", "port": "$port" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "upper" }, { "op": "file_sink", "path": "$WORK/out.txt" } ] } ],
  "edges": [ { "from": "src", "to": "sink", "partitioner": "forward" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "job failed"; }
wait "$server"
tr a-z A-Z <"$WORK/input.txt" | cmp - "$WORK/out.txt" || fail "output differs from tr a-z A-Z of the input"
echo "socket_text: $(wc -l <"$WORK/out.txt") lines"
