# The errors a newcomer meets first say what to do (issue #12):
#  - an unknown configuration key (file or -D) gets "did you mean '<key>'?";
#  - a bad size's example is inside its own range, and starting with it works;
#  - an unknown operator gets "did you mean 'tokenize'?", with INVALID_CHAIN;
#  - a file_lines input that cannot be read fails the deployment (INVALID_CHAIN naming
#    the path, one "operator 'file_lines' (#0):" prefix), before any task runs;
#  - GET /v1/operators lists the built-ins (kinds included) and the plugin libraries
#    under plugins.dir (oracle: ls);
#  - a job that ended normally logs its JobManager's disconnect at INFO, not WARN.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C

# ---- configuration
printf 'taskmanager.numberOfTaskSlot: 3\n' >"$WORK/typo.yaml"
start_daemon cfg --config "$WORK/typo.yaml" -D taskmanager.numberoftaskslots=2 -D numberOfTaskSlots=2 \
  -D heartbeat.timout=5s
grep -q "typo.yaml:1: unknown configuration key 'taskmanager.numberOfTaskSlot' (ignored); did you mean 'taskmanager.numberOfTaskSlots'?" "$cfg_LOG" ||
  { cat "$cfg_LOG"; fail "no suggestion for a key with a letter missing (file)"; }
grep -q "unknown configuration key 'taskmanager.numberoftaskslots' (ignored); did you mean 'taskmanager.numberOfTaskSlots'?" "$cfg_LOG" ||
  fail "no suggestion for a key in the wrong case"
grep -q "unknown configuration key 'numberOfTaskSlots' (ignored); did you mean 'taskmanager.numberOfTaskSlots'?" "$cfg_LOG" ||
  fail "no suggestion for a key without its prefix"
grep -q "unknown configuration key 'heartbeat.timout' (ignored); did you mean 'heartbeat.timeout'?" "$cfg_LOG" ||
  fail "no suggestion for heartbeat.timout"

if "$DAEMON" -D taskmanager.memory.network.size=32kb >"$WORK/size.out" 2>&1; then fail "a 32kb network arena was accepted"; fi
grep -q "taskmanager.memory.network.size" "$WORK/size.out" || { cat "$WORK/size.out"; fail "the size error does not name the key"; }
example=$(sed -n 's/.*e\.g\. \([0-9a-z]*\)).*/\1/p' "$WORK/size.out" | head -1)
[ -n "$example" ] || { cat "$WORK/size.out"; fail "the size error gives no example"; }
start_daemon example -D taskmanager.memory.network.size="$example" # the example itself must be accepted

# ---- operators
start_daemon tm -D taskmanager.numberOfTaskSlots=4 -D plugins.dir="$BUILD/plugins"
cat >"$WORK/typo.json" <<'JSON'
{ "name": "typo", "vertices": [ { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "to": "10" }, { "op": "tokenise" } ] } ], "edges": [] }
JSON
"$TECTL" submit "$WORK/typo.json" --executor "$tm_RPC" >"$WORK/typo.out" 2>&1 && fail "tectl accepted operator 'tokenise'"
grep -q "unknown operator 'tokenise' at chain position 1; did you mean 'tokenize'?" "$WORK/typo.out" ||
  { cat "$WORK/typo.out"; fail "no suggestion for 'tokenise'"; }
grep -q INVALID_CHAIN "$WORK/typo.out" || fail "'tokenise' is not INVALID_CHAIN"

missing="$WORK/no-such-input.txt"
wordcount_job missing "$missing" 1 1 1 >"$WORK/missing.json"
"$TECTL" submit "$WORK/missing.json" --executor "$tm_RPC" >"$WORK/missing.out" 2>&1 && fail "a job reading a missing file was accepted"
grep -q "INVALID_CHAIN" "$WORK/missing.out" || { cat "$WORK/missing.out"; fail "a missing input is not INVALID_CHAIN"; }
grep -q "operator 'file_lines' (#0): cannot read '$missing': No such file or directory" "$WORK/missing.out" ||
  { cat "$WORK/missing.out"; fail "the error does not name the missing path once"; }
grep -q "operator 'file_lines': " "$WORK/missing.out" && fail "the operator's name is doubled"
http_get "$tm_STATUS/v1/tasks"
[ "$(json 'sum(1 for t in d["tasks"] + d["finished_history"] if t["name"].startswith("lines"))' <<<"$HTTP_BODY")" = 0 ] ||
  { echo "$HTTP_BODY"; fail "the source task was created although its input is missing"; }

http_get "$tm_STATUS/v1/operators"
[ "$HTTP_CODE" = 200 ] || fail "GET /v1/operators -> $HTTP_CODE"
echo "$HTTP_BODY" >"$WORK/operators.json"
python3 - "$WORK/operators.json" <<'PY' || fail "/v1/operators is incomplete"
import json, sys
d = json.load(open(sys.argv[1]))
kinds = {o["name"]: o["kind"] for o in d["operators"]}
want = {"file_lines": "source", "sequence": "source", "socket_text": "source", "tokenize": "one-input",
        "keyed_count": "one-input", "file_sink": "one-input", "union": "two-input", "window_join": "two-input"}
bad = {k: kinds.get(k) for k, v in want.items() if kinds.get(k) != v}
assert not bad, bad
assert [o for o in d["operators"] if o["name"] == "socket_text"][0]["blocking_source"] is True
assert d["plugin"]["parameter"] == "library"
print(len(kinds), "operators;", "plugins:", d["plugin"]["libraries"])
PY
[ "$(json '" ".join(d["plugin"]["libraries"])' <"$WORK/operators.json")" = "$(cd "$BUILD/plugins" && ls ./*.so | sed 's#^\./##' | sort | xargs)" ] ||
  fail "plugin libraries differ from ls $BUILD/plugins"

# ---- a normal end is routine
printf 'a b a\n' >"$WORK/in.txt"
wordcount_job fine "$WORK/in.txt" 1 1 1 >"$WORK/fine.json"
"$TECTL" submit "$WORK/fine.json" --executor "$tm_RPC" >"$WORK/fine.out" 2>&1 || { cat "$WORK/fine.out"; fail "the word count failed"; }
wait_until 10 grep -q "JobManager of job .* (fine) disconnected" "$tm_LOG" || fail "no disconnect logged"
grep "JobManager of job .* (fine) disconnected" "$tm_LOG" | grep -q ' INFO ' ||
  { grep "disconnected" "$tm_LOG"; fail "a normal end is not logged at INFO"; }
echo OK
