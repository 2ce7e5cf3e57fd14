# Cluster mode: one tejobmanager, two TaskExecutors registered with it. A job submitted
# with --attach outlives `kill -9` of tectl and finishes; its committed output equals
# seq(1); `tectl attach` afterwards reports the whole run and exits 0; tectl jobs, job
# and taskmanagers agree with the REST API. A TaskExecutor killed and restarted on its
# port registers again and the next job gets its slots.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_jobmanager jm
start_executor te1 jm -D taskmanager.numberOfTaskSlots=2
p2=$(free_port)
start_executor te2 jm -D taskmanager.numberOfTaskSlots=2 -D taskmanager.rpc.port="$p2"
wait_until 10 registered jm 2 || fail "the TaskExecutors did not register"
export TE_JOBMANAGER=$jm_REST

[ "$(http_body "$te1_STATUS/v1/overview" | json 'd["jobmanager"]["state"], d["jobmanager"]["address"]')" = "registered $jm_RPC" ] \
  || fail "te1's status endpoint does not show its registration"
"$TECTL" taskmanagers --json >"$WORK/tms.json" || fail "tectl taskmanagers failed"
[ "$(json 'sorted(t["slots_total"] for t in d["taskmanagers"])' <"$WORK/tms.json")" = "[2, 2]" ] || fail "taskmanagers: slots"
"$TECTL" taskmanagers | grep -q "127.0.0.1:$p2" || fail "tectl taskmanagers does not list te2"

# sequence 0..N at a bounded rate (a few seconds), rebalanced into two file sinks.
N=49999
mkdir -p "$WORK/out"
cat >"$WORK/seq.json" <<JSON
{ "name": "detached-seq", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "from": 0, "to": $N, "rate": 15000 } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
submit_bg "$WORK/attach1.out" "$WORK/seq.json" --attach
tpid=$SUBMIT_PID
submitted() { grep -q '^job [0-9a-f]\{32\} submitted' "$WORK/attach1.out"; }
wait_until 10 submitted || { cat "$WORK/attach1.out"; fail "tectl submit --attach printed no job id"; }
job=$(sed -n 's/^job \([0-9a-f]\{32\}\) submitted.*/\1/p' "$WORK/attach1.out")
wait_until 20 job_tasks_running jm "$job" 3 || { cat "$WORK/attach1.out"; fail "the job never ran"; }
kill -9 "$tpid"
wait "$tpid" 2>/dev/null
job_in_state jm "$job" RUNNING || fail "the job did not outlive tectl: $(job_field jm "$job" 'd["state"]')"
wait_until 30 job_in_state jm "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state jm "$job" FINISHED || fail "the job ended $(job_field jm "$job" 'd["state"], d["failure_cause"]')"
cat "$WORK"/out/part-*.txt | sort -n >"$WORK/actual.txt"
seq 0 $N >"$WORK/expected.txt"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "output differs from seq 0 $N ($(wc -l <"$WORK/actual.txt") lines)"
[ "$(job_field jm "$job" 'len(set(s["taskmanager"] for v in d["vertices"] for s in v["subtasks"]))')" = 2 ] \
  || fail "the job did not use both TaskExecutors"

# attach after the end: the whole run, exit 0; --json: JSON lines ending with exit_code 0.
"$TECTL" attach "$job" >"$WORK/attach2.out" 2>&1 || { cat "$WORK/attach2.out"; fail "tectl attach: exit $?"; }
grep -q '^job finished$' "$WORK/attach2.out" || fail "attach did not report the end"
[ "$(grep -c ' FINISHED$' "$WORK/attach2.out")" = 3 ] || { cat "$WORK/attach2.out"; fail "attach: not 3 FINISHED tasks"; }
"$TECTL" attach "$job" --json >"$WORK/attach3.json" || fail "tectl attach --json failed"
python3 - "$WORK/attach3.json" <<'PY' || fail "attach --json"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev[-1]["event"] == "end" and ev[-1]["exit_code"] == 0 and ev[-1]["result"] == "finished", ev[-1]
assert sum(1 for e in ev if e["event"] == "plan") == 1
PY
"$TECTL" jobs | grep -q "^$job  detached-seq  FINISHED" || { "$TECTL" jobs; fail "tectl jobs"; }
"$TECTL" job "$job" | grep -q '^sink (2/2)  FINISHED' || { "$TECTL" job "$job"; fail "tectl job"; }

# te2 killed and restarted on the same port: registered again, its slots used.
kill -9 "$te2_PID"
wait_until 10 registered jm 1 || fail "the JobManager did not notice te2's loss"
start_executor te2b jm -D taskmanager.numberOfTaskSlots=2 -D taskmanager.rpc.port="$p2"
wait_until 10 registered jm 2 || fail "te2 did not register again"
cat >"$WORK/wide.json" <<'JSON'
{ "name": "wide", "vertices": [
    { "id": "seq", "parallelism": 4, "chain": [ { "op": "sequence", "from": 0, "to": 999 } ] },
    { "id": "sink", "parallelism": 4, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "forward" } ] }
JSON
"$TECTL" submit "$WORK/wide.json" --attach --json >"$WORK/wide.json.out" || fail "the 4-slot job failed"
job2=$(json 'd["job_id"]' < <(grep '"event":"end"' "$WORK/wide.json.out"))
job_field jm "$job2" 'sorted(set(s["taskmanager"] for v in d["vertices"] for s in v["subtasks"]))' | grep -q "127.0.0.1:$p2" \
  || fail "the job did not use the restarted TaskExecutor"
grep -q "TaskExecutor 127.0.0.1:$p2 (127.0.0.1:$p2) is lost" "$jm_LOG" || fail "the loss of te2 was not logged"
echo "detached job finished with seq's output; te2 re-registered and served the next job"
