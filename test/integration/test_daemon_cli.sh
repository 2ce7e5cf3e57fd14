# The daemon's command line and configuration: --help, --version, a bad value stops
# start-up naming the key, the value and what is allowed; an unknown key only warns;
# a YAML file is read; SIGTERM with nothing running exits 0.
. "$(dirname "$0")/lib.sh"
"$DAEMON" --help | grep -q -- "--config" || fail "--help does not mention --config"
"$DAEMON" --version | grep -Eq '^taskexecutord [0-9]+\.[0-9]+' || fail "--version"
if "$DAEMON" -D taskmanager.numberOfTaskSlots=abc >"$WORK/bad.log" 2>&1; then fail "started with a bad value"; fi
cat "$WORK/bad.log"
grep -q "taskmanager.numberOfTaskSlots" "$WORK/bad.log" && grep -q "abc" "$WORK/bad.log" || fail "error does not name key and value"
if "$DAEMON" -D taskmanager.memory.segment-size=3000 >"$WORK/bad2.log" 2>&1; then fail "started with a bad segment size"; fi
grep -q "segment-size" "$WORK/bad2.log" || fail "segment-size error does not name the key"
if "$DAEMON" --config "$WORK/missing.yaml" >"$WORK/bad3.log" 2>&1; then fail "started with a missing config file"; fi
grep -q "missing.yaml" "$WORK/bad3.log" || fail "missing file not named"
if "$DAEMON" --bogus >/dev/null 2>&1; then fail "accepted an unknown flag"; fi

cat >"$WORK/te.yaml" <<'YAML'
taskmanager:
  numberOfTaskSlots: 3
taskmanager.no-such-key: 1
YAML
start_daemon tm --config "$WORK/te.yaml"
grep -q "no-such-key" "$tm_LOG" || fail "unknown key did not warn"
[ "$(http_body "$tm_STATUS/v1/overview" | json 'd["slots"]["total"]')" = 3 ] || fail "YAML numberOfTaskSlots not applied"
# The shipped configuration file is exactly the documented defaults.
"$DAEMON" --print-defaults | cmp -s - "$ROOT/conf/taskexecutor.yaml" || fail "conf/taskexecutor.yaml differs from --print-defaults"
# The README's key table is the parser's (every key, as generated).
bash "$ROOT/scripts/readme-keys.sh" "$BUILD" --check || fail "README.md's key table differs from --print-readme-keys"
for key in taskmanager.resource-id taskmanager.rpc.idle-timeout pipeline.auto-watermark-interval; do
  grep -qF "| \`$key\` |" "$ROOT/README.md" || fail "README.md's key table lacks $key"
done
"$JOBMANAGER" --print-defaults | cmp -s - "$ROOT/conf/jobmanager.yaml" || fail "conf/jobmanager.yaml differs from tejobmanager --print-defaults"
# Each daemon takes only its own keys (and the ones both read): a JobManager key given
# to taskexecutord is unknown there, and the other way round.
"$JOBMANAGER" --print-defaults | grep -q '^jobmanager.rest.port: 8081$' || fail "tejobmanager lacks jobmanager.rest.port"
"$JOBMANAGER" --print-defaults | grep -q '^taskmanager.numberOfTaskSlots' && fail "tejobmanager offers a TaskExecutor-only key"
"$DAEMON" --print-defaults | grep -q '^jobmanager.rest.port' && fail "taskexecutord offers a JobManager-only key"
rc=0; "$JOBMANAGER" -D jobmanager.rest.port=99999 >"$WORK/jmbad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "jobmanager.rest.port" "$WORK/jmbad.out" || { cat "$WORK/jmbad.out"; fail "a bad JobManager value: exit $rc"; }
kill -TERM "$tm_PID"
rc=0; wait "$tm_PID" || rc=$?
[ "$rc" = 0 ] || fail "SIGTERM exit code $rc"
grep -q "stopped" "$tm_LOG" || fail "no 'stopped' line"
