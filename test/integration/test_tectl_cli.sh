# tectl as a CLI: --help on every command (exit 0, an example), --json output of
# slots / list / cancel / submit parses (python json) and agrees with the status
# endpoint and the job file, list's table, the live progress line on a terminal
# (script(1) gives tectl a pty) and plain lines when piped, exit codes.
. "$(dirname "$0")/lib.sh"

for cmd in submit list slots cancel; do
  out=$("$TECTL" "$cmd" --help) || fail "tectl $cmd --help exit $?"
  grep -q '^Example:' <<<"$out" || fail "tectl $cmd --help has no example"
  grep -q "^  tectl $cmd " <<<"$out" || fail "tectl $cmd --help example does not run $cmd"
  grep -q -- '--json' <<<"$out" || fail "tectl $cmd --help does not mention --json"
  "$TECTL" help "$cmd" | cmp -s - <(echo "$out") || fail "tectl help $cmd differs from tectl $cmd --help"
done
"$TECTL" --help | grep -q '^  list ' || fail "tectl --help does not list 'list'"
rc=0; "$TECTL" list >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "tectl list without --executor: exit $rc, expected 2"
rc=0; "$TECTL" slots --executor 127.0.0.1:1 --bogus >/dev/null 2>&1 || rc=$?; [ "$rc" = 2 ] || fail "unknown option: exit $rc"

start_daemon tm -D taskmanager.numberOfTaskSlots=3

# slots --json: one document, as many slots as configured, all FREE.
"$TECTL" slots --executor "$tm_RPC" --json >"$WORK/slots.json" || fail "slots --json failed"
[ "$(json 'len(d["slots"])' <"$WORK/slots.json")" = 3 ] || fail "slots --json does not list 3 slots"
[ "$(json 'sorted(set(s["state"] for s in d["slots"]))' <"$WORK/slots.json")" = "['FREE']" ] || fail "slots not FREE"
[ "$(json 'd["resource_id"]' <"$WORK/slots.json")" = "$tm_RPC" ] || fail "resource id is not $tm_RPC"
"$TECTL" slots --executor "$tm_RPC" >"$WORK/slots.txt"
[ "$(grep -c ' FREE ' "$WORK/slots.txt")" = 3 ] || { cat "$WORK/slots.txt"; fail "slots table"; }

# An unbounded job: list shows its 4 tasks RUNNING in slots, in JSON and as a table.
cat >"$WORK/forever.json" <<'JSON'
{ "name": "forever", "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "unbounded": "true", "rate": 2000 } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON
submit_running "$WORK/forever.out" 4 "$tm_STATUS" "$WORK/forever.json" --executor "$tm_RPC"
fpid=$SUBMIT_PID
"$TECTL" list --executor "$tm_RPC" --json >"$WORK/list.json" || fail "list --json failed"
cat "$WORK/list.json"
python3 - "$WORK/list.json" "$WORK/forever.out" <<'PY' || fail "list --json does not match the submitted job"
import json, re, sys
d = json.load(open(sys.argv[1]))
tasks = d["executors"][0]["tasks"]
plan = dict(re.findall(r"^  task ([0-9a-f]{32}) (\S+ \(\d+/\d+\)) on", open(sys.argv[2]).read(), re.M))
assert len(tasks) == 4 and len(plan) == 4, (tasks, plan)
for t in tasks:
    assert t["state"] == "RUNNING" and t["job_name"] == "forever", t
    assert plan[t["execution_id"]] == t["task"], t
    assert t["slot"] in (0, 1, 2)
PY
"$TECTL" list --executor "$tm_RPC" >"$WORK/list.txt" || fail "list failed"
cat "$WORK/list.txt"
head -1 "$WORK/list.txt" | grep -q '^JOB  *NAME  *TASK  *STATE  *SLOT' || fail "list table header"
[ "$(grep -c ' forever .* RUNNING ' "$WORK/list.txt")" = 4 ] || fail "list table does not show 4 RUNNING tasks"
# An unreachable executor: the others are still listed, exit 3, error in the JSON.
rc=0; "$TECTL" list --executor "$tm_RPC" --executor 127.0.0.1:1 --json >"$WORK/list2.json" 2>/dev/null || rc=$?
[ "$rc" = 3 ] || fail "list with an unreachable executor: exit $rc, expected 3"
[ "$(json 'len(d["executors"][0]["tasks"]), "error" in d["executors"][1]' <"$WORK/list2.json")" = "4 True" ] \
  || fail "list --json with an unreachable executor"
# cancel --json of one sink: ok; of an unknown id: refused, exit 1.
sink=$(json '[t["execution_id"] for t in d["executors"][0]["tasks"] if t["task"]=="sink (1/2)"][0]' <"$WORK/list.json")
rc=0; "$TECTL" cancel --executor "$tm_RPC" --json "$sink" 00000000000000000000000000000001 >"$WORK/cancel.json" || rc=$?
[ "$rc" = 1 ] || fail "cancel with an unknown id: exit $rc, expected 1"
[ "$(json '[r["ok"] for r in d["results"]]' <"$WORK/cancel.json")" = "[True, False]" ] || fail "cancel --json results"
json 'd["results"][1]["error"]' <"$WORK/cancel.json" | grep -q UNKNOWN_TASK || fail "cancel error not named"
rc=0; wait "$fpid" || rc=$?
[ "$rc" = 130 ] || { cat "$WORK/forever.out"; fail "job with a cancelled task: exit $rc, expected 130"; }
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not free after the job"

# submit --json: JSON lines; plan first, end last, a FINISHED state per task; the
# output equals seq.
cat >"$WORK/seq.json" <<JSON
{ "name": "seqjob", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": 1500, "rate": 1000 } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/seq-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/seq.json" --executor "$tm_RPC" --json >"$WORK/submit.jsonl" || fail "submit --json failed"
cat "$WORK/submit.jsonl"
python3 - "$WORK/submit.jsonl" <<'PY' || fail "submit --json events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev[0]["event"] == "plan" and ev[-1]["event"] == "end", ev
assert ev[-1]["result"] == "finished" and ev[-1]["exit_code"] == 0
ids = {t["execution_id"] for t in ev[0]["tasks"]}
assert len(ids) == 3
fin = {e["execution_id"] for e in ev if e["event"] == "state" and e["state"] == "FINISHED"}
assert fin == ids, (fin, ids)
prog = [e for e in ev if e["event"] == "progress"]
assert prog, "no progress event"
assert all(e["tasks"] == 3 for e in prog)
sink_in = sum(e["records_in"] for e in ev if e["event"] == "state" and e["state"] == "FINISHED" and e["task"].startswith("sink"))
assert sink_in == 1500, sink_in
PY
[ "$(cat "$WORK"/seq-*.txt | sort -n | md5sum)" = "$(seq 1 1500 | md5sum)" ] || fail "submit --json job output differs from seq"

# A terminal gets the progress line; a pipe never does.
grep -q $'\r' "$WORK/forever.out" && fail "carriage returns in piped output"
if command -v script >/dev/null; then
  script -qec "$TECTL submit $WORK/seq.json --executor $tm_RPC" /dev/null >"$WORK/tty.out" 2>&1 || { cat "$WORK/tty.out"; fail "submit on a pty failed"; }
  grep -q $'\r\033\[K\[00:0[0-9]\] .* running, .* finished of 3 tasks | .* records/s' "$WORK/tty.out" \
    || { cat -A "$WORK/tty.out" | head -40; fail "no progress line on a terminal"; }
  grep -q 'job finished' "$WORK/tty.out" || fail "no 'job finished' on a terminal"
else
  skip_check "terminal progress line" "script(1) is not installed"
fi

# Man pages: built from daemon/man/*.in (the key reference by --print-man-keys), they
# render without groff warnings and taskexecutor.yaml(5) documents every key that
# --print-defaults lists (awk over its output is the oracle).
for page in taskexecutord.8 tectl.1 taskexecutor.yaml.5; do
  sh "$ROOT/daemon/man/gen-man.sh" "$DAEMON" test "$ROOT/daemon/man/$page.in" "$WORK/$page" || fail "gen-man $page"
  grep -q '@[A-Z_]*@' "$WORK/$page" && fail "$page has an unreplaced placeholder"
  if command -v man >/dev/null; then
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$WORK/$page" 2>&1 >"$WORK/$page.txt")
    [ -z "$warn" ] || fail "man warnings for $page: $warn"
  fi
done
if command -v man >/dev/null; then
  "$DAEMON" --print-defaults | awk -F: '/^[a-z][^ #]*:/ {print $1}' >"$WORK/keys.txt"
  [ "$(wc -l <"$WORK/keys.txt")" -gt 20 ] || fail "too few keys in --print-defaults"
  while read -r k; do
    grep -q "^       $k\$" "$WORK/taskexecutor.yaml.5.txt" || fail "taskexecutor.yaml(5) does not document $k"
  done <"$WORK/keys.txt"
  grep -A3 '^       log.level$' "$WORK/taskexecutor.yaml.5.txt" | grep -q 'Live' || fail "log.level not marked live"
  grep -A3 '^       taskmanager.numberOfTaskSlots$' "$WORK/taskexecutor.yaml.5.txt" | grep -q 'Needs a restart' \
    || fail "numberOfTaskSlots not marked restart-only"
else
  skip_check "man page rendering" "man is not installed (scripts/install-deps.sh test)"
fi
echo OK
