# Connection exhaustion on the RPC port (issue 19, item 2): 1,100 connections that
# never finish a handshake, each trickling one byte every 3 s and reopened whenever the
# daemon closes it, run against a daemon with authentication, and then against one
# without. Meanwhile an authenticated tectl (resp. a plain one) submits a job, sees it
# RUNNING, cancels it with `tectl cancel`, and lists the slots: every call must
# succeed. What makes room: an absolute handshake deadline (taskmanager.rpc.
# handshake-timeout), a cap on connections still in the handshake and per peer address
# (the oldest of them is closed when it is reached, never an authenticated one), and
# accepts in batches so a flood of connects cannot starve handshakes in progress. The
# daemon's log stays small (repeated lines are summed up: before, ~1.5 MB per run).
# Before the fix the pending connections filled taskmanager.rpc.max-connections (1024)
# and tectl was refused for as long as the trickle went on.
. "$(dirname "$0")/lib.sh"
head -c 48 /dev/urandom | base64 -w0 >"$WORK/token"
chmod 600 "$WORK/token"
cat >"$WORK/job.json" <<'JSON'
{ "name": "forever", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "unbounded": "true", "rate": "1000" } ] },
    { "id": "sink", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON

under_attack() { # NAME TOKEN_ARGS...: slowloris on NAME's RPC port while tectl works
  local name=$1; shift
  local rpc_var="${name}_RPC" log_var="${name}_LOG" st_var="${name}_STATUS"
  local rpc=${!rpc_var} log=${!log_var} st=${!st_var}
  rm -f "$WORK/stop"
  python3 "$(dirname "$0")/slowloris.py" "${rpc%:*}" "${rpc##*:}" 1100 "$WORK/stop" --every 3 --source 127.0.0.2 >"$WORK/$name.slow" 2>&1 &
  local slow=$!
  sleep 5 # the trickle is on: every connection the daemon closes is reopened at once
  submit_bg "$WORK/$name.submit" "$WORK/job.json" --executor "$rpc" "$@"
  local sub=$SUBMIT_PID
  wait_until 60 grep -q 'sink (1/1) RUNNING' "$WORK/$name.submit" || { cat "$WORK/$name.submit"; touch "$WORK/stop"; fail "$name: the job did not start under the slowloris"; }
  local id; id=$(sed -n 's/^  task \([0-9a-f]\{32\}\) sink .*/\1/p' "$WORK/$name.submit")
  "$TECTL" cancel --executor "$rpc" "$@" "$id" >"$WORK/$name.cancel" 2>&1 ||
    { cat "$WORK/$name.cancel"; touch "$WORK/stop"; fail "$name: tectl cancel failed under the slowloris"; }
  local rc=0; wait $sub || rc=$?
  [ "$rc" -ne 0 ] || fail "$name: a cancelled job ended with exit 0"
  grep -q 'CANCELED' "$WORK/$name.submit" || { cat "$WORK/$name.submit"; fail "$name: no task reported CANCELED"; }
  "$TECTL" slots --executor "$rpc" "$@" >"$WORK/$name.slots" 2>&1 ||
    { cat "$WORK/$name.slots"; touch "$WORK/stop"; fail "$name: tectl slots failed under the slowloris"; }
  touch "$WORK/stop"; wait $slow
  cat "$WORK/$name.slow"
  wait_until 10 daemon_idle "$st" || fail "$name: slots or segments not released"
  grep -qE 'closing this connection, [0-9]+ ms without completing its handshake|no (authentication|complete frame) within' "$log" ||
    fail "$name: the daemon never closed a pending connection"
  local size; size=$(stat -c %s "$log")
  [ "$size" -lt 32768 ] || fail "$name: $size bytes of log: repeated lines are not summed up"
  echo "$name: job submitted, running, cancelled and slots listed during the slowloris; ${size} bytes of log:"
  grep 'repeated' "$log" | head -3
}

start_daemon auth -D security.auth.token-file="$WORK/token"
under_attack auth --token-file "$WORK/token"
start_daemon plain
under_attack plain
