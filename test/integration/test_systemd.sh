# systemd integration: sd_notify messages received by a stand-in notification socket
# (READY=1 after the READY log line, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1
# on SIGTERM; a path socket and an abstract one), journald level prefixes when stderr
# is the journal ($JOURNAL_STREAM = its device:inode), timestamps otherwise, and the
# shipped unit file passes `systemd-analyze verify` (when systemd-analyze exists).
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

# notify_msgs FILE: the messages received so far, one per line, "|" between fields.
notify_msgs() { python3 -c '
import json,sys
for l in open(sys.argv[1]):
    print(json.loads(l)["msg"].replace("\n","|"))' "$1" 2>/dev/null; }
has_msg() { notify_msgs "$1" | grep -q -- "$2"; }

start_notify_server() { # SOCKET OUT LOG
  python3 "$HERE/notify_server.py" "$1" "$2" "$3" &
  PIDS+=("$!")
  wait_until 10 test -f "$2.bound" || fail "notify server did not bind $1"
}

# 1. A path socket: READY=1 (after the READY log line) with STATUS, RELOADING/READY
#    on SIGHUP, STOPPING=1 on SIGTERM, exit 0.
sock="$WORK/notify.sock"; out="$WORK/notify.out"
start_notify_server "$sock" "$out" "$WORK/tm.log"
printf 'log.level: info\n' >"$WORK/te.yaml"
export NOTIFY_SOCKET="$sock"
start_daemon tm --config "$WORK/te.yaml"
unset NOTIFY_SOCKET
wait_until 10 has_msg "$out" 'READY=1' || { notify_msgs "$out"; fail "no READY=1 received"; }
notify_msgs "$out"
python3 - "$out" <<'PY' || fail "READY=1 came before the READY log line or without STATUS"
import json,sys
m=[json.loads(l) for l in open(sys.argv[1])]
r=[x for x in m if "READY=1" in x["msg"].split("\n")]
assert r and r[0]["log_ready"], m
assert any(l.startswith("STATUS=") for l in r[0]["msg"].split("\n")), r[0]
PY
kill -HUP "$tm_PID"
wait_until 10 python3 - "$out" <<'PY' || { notify_msgs "$out"; fail "no RELOADING=1 then READY=1 after SIGHUP"; }
import json,sys
m=[json.loads(l)["msg"].split("\n") for l in open(sys.argv[1])]
i=[k for k,x in enumerate(m) if "RELOADING=1" in x]
assert i and any("READY=1" in x for x in m[i[0]+1:])
assert any(l.startswith("MONOTONIC_USEC=") for l in m[i[0]])
PY
kill -TERM "$tm_PID"
rc=0; wait "$tm_PID" || rc=$?
[ "$rc" = 0 ] || fail "daemon exit code $rc after SIGTERM"
wait_until 5 has_msg "$out" 'STOPPING=1' || { notify_msgs "$out"; fail "no STOPPING=1 on SIGTERM"; }
order=$(notify_msgs "$out" | sed -n 's/.*\(READY=1\|RELOADING=1\|STOPPING=1\).*/\1/p' | tr '\n' ' ')
[ "$order" = "READY=1 RELOADING=1 READY=1 STOPPING=1 " ] || fail "notification order: $order"

# 2. An abstract socket ('@name').
asock="@te-notify-$$-$RANDOM"; aout="$WORK/anotify.out"
start_notify_server "$asock" "$aout" "$WORK/abs.log"
export NOTIFY_SOCKET="$asock"
start_daemon abs
unset NOTIFY_SOCKET
wait_until 10 has_msg "$aout" 'READY=1' || fail "no READY=1 over the abstract socket $asock"

# 3. No NOTIFY_SOCKET: nothing sent, no warning.
grep -q 'NOTIFY_SOCKET' "$abs_LOG" && fail "warning about NOTIFY_SOCKET with a working socket"

# 4. journald format: stderr is the "journal" file named by JOURNAL_STREAM.
jlog="$WORK/journal.log"; : >"$jlog"
JOURNAL_STREAM=$(stat -c '%d:%i' "$jlog") "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 \
  -D taskmanager.status.port=0 -D no.such.key=1 >>"$jlog" 2>&1 &
jpid=$!; PIDS+=("$jpid")
wait_until 10 grep -q ' READY ' "$jlog" || { cat "$jlog"; fail "journal daemon never READY"; }
kill -TERM "$jpid"; wait "$jpid" || true
cat "$jlog"
grep -q '^<6>\[daemon\] READY rpc_port=' "$jlog" || fail "READY line without the <6> prefix"
bad=$(grep -cvE '^<[3467]>\[' "$jlog" || true)
[ "$bad" = 0 ] || fail "$bad journal line(s) without a <N>[ctx] prefix"
grep -q "^<4>\[config\] .*unknown configuration key 'no.such.key'" "$jlog" || fail "the unknown-key warning has no <4> prefix"
grep -qE '^[0-9]{4}-[0-9]{2}-' "$jlog" && fail "timestamps in journal mode"

# 5. JOURNAL_STREAM naming another file: plain ISO timestamps.
plog="$WORK/plain.log"; : >"$plog"
JOURNAL_STREAM=$(stat -c '%d:%i' "$jlog") "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 \
  -D taskmanager.status.port=0 >>"$plog" 2>&1 &
ppid=$!; PIDS+=("$ppid")
wait_until 10 grep -q ' READY ' "$plog" || { cat "$plog"; fail "plain daemon never READY"; }
kill -TERM "$ppid"; wait "$ppid" || true
bad=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (DEBUG|INFO |WARN |ERROR) \[' "$plog" || true)
[ "$bad" = 0 ] || { cat "$plog"; fail "$bad line(s) without an ISO timestamp"; }

# The JobManager speaks the same protocol: READY=1 after its READY line, RELOADING=1 then
# READY=1 on SIGHUP (a live key changed), STOPPING=1 on SIGTERM.
sock="$WORK/jm-notify.sock"; out="$WORK/jm-notify.out"
start_notify_server "$sock" "$out" "$WORK/jm.log"
printf 'log.level: info\n' >"$WORK/jm.yaml"
export NOTIFY_SOCKET="$sock"
start_jobmanager jm --config "$WORK/jm.yaml"
unset NOTIFY_SOCKET
wait_until 10 has_msg "$out" 'READY=1' || { notify_msgs "$out"; fail "tejobmanager: no READY=1"; }
printf 'log.level: debug\n' >"$WORK/jm.yaml"
kill -HUP "$jm_PID"
wait_until 10 has_msg "$out" 'RELOADING=1' || { notify_msgs "$out"; fail "tejobmanager: no RELOADING=1"; }
wait_until 10 grep -q "reload: log.level changed from 'info' to 'debug' (applied)" "$jm_LOG" || fail "tejobmanager: reload not logged"
kill -TERM "$jm_PID"
wait_until 10 has_msg "$out" 'STOPPING=1' || { notify_msgs "$out"; fail "tejobmanager: no STOPPING=1"; }
[ "$(notify_msgs "$out" | grep -c 'READY=1')" -ge 2 ] || { notify_msgs "$out"; fail "tejobmanager: no READY=1 after the reload"; }

# 6. The unit files (make install paths), each through systemd-analyze verify.
for spec in "taskexecutord:$DAEMON:taskexecutor.yaml" "tejobmanager:$JOBMANAGER:jobmanager.yaml"; do
  IFS=: read -r prog bin conf <<<"$spec"
  unit="$ROOT/conf/$prog.service"
  grep -q '^Type=notify$' "$unit" || fail "$prog unit is not Type=notify"
  grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" || fail "$prog: ExecReload is not SIGHUP"
  grep -q "^ExecStart=/usr/local/sbin/$prog --config /usr/local/etc/taskexecutor/$conf\$" "$unit" \
    || fail "$prog: ExecStart does not match the make install paths"
  if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/local/sbin/$prog#$bin#" "$unit" >"$WORK/$prog.service"
    systemd-analyze verify "$WORK/$prog.service" >"$WORK/verify-$prog.out" 2>&1 || true
    cat "$WORK/verify-$prog.out"
    if grep -v -e "Command 'man " -e 'man:' "$WORK/verify-$prog.out" | grep -q .; then fail "systemd-analyze verify complained ($prog)"; fi
  else
    skip_check "systemd-analyze verify" "systemd-analyze is not installed (scripts/install-deps.sh test)"
  fi
done
echo OK
