# SIGHUP reload: while a job runs, switching log.level to debug in the file makes
# debug lines appear, a changed restart-only key is named and keeps its old value,
# a bad value is logged with its key and the daemon keeps running, and the job still
# finishes with exactly the right output (compared with seq). log.file is reopened
# (logrotate: the moved file stops growing, a new one is created).
. "$(dirname "$0")/lib.sh"

cfg="$WORK/te.yaml"
printf 'log.level: info\nheartbeat.timeout: 50s\n' >"$cfg"
start_daemon tm --config "$cfg"

N=4000
cat >"$WORK/job.json" <<JSON
{ "name": "reload", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": $N, "rate": 1000 } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/out-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
submit_running "$WORK/tectl.out" 3 "$tm_STATUS" "$WORK/job.json" --executor "$tm_RPC"
tectl_pid=$SUBMIT_PID
grep -q ' DEBUG ' "$tm_LOG" && fail "debug lines before the reload at log.level=info"

# 1. Live change + a restart-only change.
printf 'log.level: debug\nheartbeat.timeout: 40s\ntaskmanager.numberOfTaskSlots: 9\n' >"$cfg"
kill -HUP "$tm_PID"
wait_until 10 grep -q 'reload done' "$tm_LOG" || { cat "$tm_LOG"; fail "no 'reload done' after SIGHUP"; }
grep -q "log.level changed from 'info' to 'debug' (applied)" "$tm_LOG" || fail "log.level change not logged"
grep -q "heartbeat.timeout changed from '50s' to '40s' (applied)" "$tm_LOG" || fail "heartbeat.timeout change not logged"
grep -q "WARN .*taskmanager.numberOfTaskSlots changed from '4' to '9' but needs a restart; keeping '4'" "$tm_LOG" \
  || fail "restart-only key not named"
grep -q 'reload done: 2 change(s) applied, 1 need a restart' "$tm_LOG" || fail "reload summary wrong"
wait_until 5 grep -q ' DEBUG ' "$tm_LOG" || fail "no debug line after switching log.level to debug"
http_get "$tm_STATUS/v1/overview"
[ "$(json 'd["slots"]["total"]' <<<"$HTTP_BODY")" = 4 ] || fail "slot count changed without a restart"

# 2. A bad value: logged with its key, the old configuration stays, the daemon lives.
printf 'log.level: debug\ntaskmanager.slot.timeout: banana\n' >"$cfg"
kill -HUP "$tm_PID"
wait_until 10 grep -q 'reload failed' "$tm_LOG" || { cat "$tm_LOG"; fail "no 'reload failed' for a bad value"; }
grep 'reload failed' "$tm_LOG" | grep -q "taskmanager.slot.timeout" || fail "the bad key is not named"
# 3. A file that is not YAML, then a missing file.
printf 'log.level: [debug\n' >"$cfg"
kill -HUP "$tm_PID"
wait_until 10 sh -c "[ \$(grep -c 'reload failed' '$tm_LOG') -ge 2 ]" || fail "no 'reload failed' for a syntax error"
rm -f "$cfg"
kill -HUP "$tm_PID"
wait_until 10 grep -q "reload failed.*cannot open configuration file" "$tm_LOG" || fail "missing file not reported"
kill -0 "$tm_PID" 2>/dev/null || fail "the daemon died on a reload"

# The job was not disturbed.
rc=0; wait "$tectl_pid" || rc=$?
cat "$WORK/tectl.out"
[ "$rc" = 0 ] || fail "job exit code $rc after reloads"
cat "$WORK"/out-*.txt | sort -n >"$WORK/got.txt"
seq 1 "$N" >"$WORK/want.txt"
cmp -s "$WORK/got.txt" "$WORK/want.txt" || { diff "$WORK/want.txt" "$WORK/got.txt" | head; fail "job output differs from seq 1 $N"; }
[ "$(grep -c 'FINISHED' "$WORK/tectl.out")" = 3 ] || fail "not every task FINISHED"
# Still serving after everything.
"$TECTL" slots --executor "$tm_RPC" >/dev/null || fail "daemon not serving after the reloads"

# 4. log.file is reopened on SIGHUP (logrotate moves the file first).
flog="$WORK/file.log"
printf 'log.file: %s\n' "$flog" >"$WORK/f.yaml"
"$DAEMON" --config "$WORK/f.yaml" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 \
  -D taskmanager.status.port=0 >"$WORK/f.stderr" 2>&1 &
fpid=$!; PIDS+=("$fpid"); LOGS+=("$flog")
wait_until 10 grep -q ' READY ' "$flog" || { cat "$WORK/f.stderr" "$flog"; fail "log.file daemon never READY in $flog"; }
[ -s "$WORK/f.stderr" ] && { cat "$WORK/f.stderr"; fail "lines on stderr although log.file is set"; }
mv "$flog" "$flog.1"
kill -HUP "$fpid"
wait_until 10 grep -q 'reload done' "$flog" || { cat "$flog.1"; fail "log.file was not reopened on SIGHUP"; }
grep -q 'reload done' "$flog.1" && fail "the moved log file still got lines after the reopen"
echo OK
