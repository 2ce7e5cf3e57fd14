# High availability: a new leader adopts the running tasks instead of restarting them.
# A real 3-member etcd cluster, two JobManagers, three TaskExecutors listing both, a
# checkpointed word count (sequence -> words -> tokenize -> keyed_count with rolling
# updates -> two-phase-commit file_sink). The leader is killed (-9) five times at
# random moments, a fresh standby started on its ports each time: every new leader
# adopts the job (REST "adopted", restart counter 0, the same attempt and execution ids
# before and after, no task deployed again on any TaskExecutor, the TaskExecutors log the
# adoption), checkpoints complete again with higher ids and are confirmed to both sink
# subtasks (each commits a new part file), and the committed output is
# exactly the oracle's (coreutils: every word's counts 1..n once; a lost or replayed
# record would leave a gap or a duplicate).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_etcd_cluster 3
TTL=2
start_ha_pair adopt $TTL -D heartbeat.timeout=20s
start_ha_executors 3 -D heartbeat.timeout=20s
N=119999 # 60 s at RATE: five failovers fit (measured: done ~35 s after the start, ~45 s
RATE=2000 # under TSan alone; 90 s under a sanitizer or valgrind, a second test beside it)
daemon_instrumented && N=179999
OUT="$WORK/out"
mkdir -p "$OUT"
cat >"$WORK/job.json" <<JSON
{ "name": "ha-adopt", "max_parallelism": 128,
  "vertices": [
    { "id": "lines", "parallelism": 1, "chain": [
        { "op": "sequence", "from": 0, "to": $N, "rate": $RATE, "uid": "seq" },
        { "op": "map", "exprs": "substr('abcdefghijklmnopqrstuvwxyz', \$0 % 26 + 1, 1) || substr('abcdefghijklmnopqrstuvwxyz', (\$0 / 26) % 26 + 1, 1) || ' ' || substr('abcdefghij', (\$0 / 7) % 10 + 1, 1) AS line" } ] },
    { "id": "words", "parallelism": 2, "chain": [ { "op": "tokenize" } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "uid": "count" },
                                                  { "op": "file_sink", "path": "$OUT/part-{subtask}.txt", "uid": "sink" } ] } ],
  "edges": [ { "from": "lines", "to": "words", "partitioner": "rebalance" },
             { "from": "words", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
# The oracle: the same lines by awk, then per word its rolling counts 1..n.
seq 0 $N | awk 'BEGIN { a = "abcdefghijklmnopqrstuvwxyz" }
  { print substr(a, $1 % 26 + 1, 1) substr(a, int($1 / 26) % 26 + 1, 1); print substr("abcdefghij", int($1 / 7) % 10 + 1, 1) }' |
  sort | uniq -c | awk '{ for (i = 1; i <= $1; i++) print $2 "\t" i }' | sort >"$WORK/expected.txt"
[ "$(wc -l <"$WORK/expected.txt")" -eq $((2 * (N + 1))) ] || fail "the oracle computed $(wc -l <"$WORK/expected.txt") lines"

job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm1_REST" --checkpoint-interval 300ms --restart-attempts 3) ||
  fail "submit failed"
wait_until 30 job_checkpointed jm1 "$job" 1 || fail "no checkpoint completed: $(job_field jm1 "$job" 'd["state"]')"
ids() { job_field "$1" "$job" '" ".join(sorted(s["execution_id"] for v in d["vertices"] for s in v["subtasks"]))'; }
ids0=$(ids jm1)
attempt0=$(job_field jm1 "$job" 'd["attempt"]')
[ "$(wc -w <<<"$ids0")" -eq 5 ] || fail "expected 5 tasks, the job view lists '$ids0'"
deployed() { cat "$te1_LOG" "$te2_LOG" "$te3_LOG" | grep -c "deployed .* of job $job"; }
[ "$(deployed)" -eq 5 ] || fail "expected 5 deployments, the TaskExecutors logged $(deployed)"

# failover OLD NEW SPARE: kill -9 the leader OLD at a random moment; NEW (the standby)
# must lead and adopt; SPARE is started on OLD's ports as the next standby.
# (the last failover may come when the source has finished: the job then ends soon after)
adopted_ok() {
  ADOPT_VIEW=$(job_field "$1" "$job" "d['state'], d['adopted'], d['restarts']")
  [ "$ADOPT_VIEW" = "RUNNING True 0" ] || [ "$ADOPT_VIEW" = "FINISHED True 0" ]
}
parts() { find "$OUT" -name "part-$1.txt.part-*" | wc -l; }
parts_above() { [ "$(parts "$1")" -gt "$2" ] || job_in_state "$new" "$job" FINISHED; }
ckpt_after() { [ "$(job_field "$1" "$job" "(d['last_checkpoint'] or {}).get('id', 0) > $2 or d['state'] == 'FINISHED'")" = True ]; }
failover() {
  local old=$1 new=$2 spare=$3 ports=$4
  local pid="${old}_PID" ptr killed took epoch
  sleep "0.$((RANDOM % 10))"
  if ! job_in_state "$old" "$job" RUNNING; then
    [ -z "$spare" ] && job_in_state "$old" "$job" FINISHED && echo "(the job finished before the last kill)" && return 0
    fail "the job is $(job_field "$old" "$job" 'd["state"]') on $old before the kill"
  fi
  kill -9 "${!pid}"
  killed=$(date +%s.%N)
  ptr=$(etcd_get "/taskexecutord/adopt-$$/checkpoints/$job" | json 'd["id"]')
  wait_until $((TTL + 10)) leads "$new" || fail "$new did not take over"
  if [ -n "$spare" ]; then # the next standby, on OLD's ports (the TaskExecutors list them)
    local p="${ports}[@]"
    start_jobmanager "$spare" "${!p}" "${HA_ARGS[@]}"
  fi
  local log="${new}_LOG"
  took=$(log_time_since "${!log}" "LEADER epoch=" "$killed")
  wait_until 20 adopted_ok "$new" || {
    grep -E "adopt|recovered" "${!log}" | tail -5
    fail "$new did not adopt the job (last view: ${ADOPT_VIEW:-}): $(job_field "$new" "$job" 'd["state"], d["adopted"], d["restarts"], d["waiting_reason"]')"
  }
  grep -q "job $job (ha-adopt) recovered from the job store: adopting the running tasks of attempt $attempt0" "${!log}" ||
    fail "$new did not try to adopt attempt $attempt0"
  local view; view=$(job_field "$new" "$job" '" ".join(sorted(s["execution_id"] for v in d["vertices"] for s in v["subtasks"])) + "|" + str(d["attempt"])')
  [ "$view" = "$ids0|$attempt0" ] || fail "execution ids or attempt changed: '$ids0|$attempt0' -> '$view'"
  [ "$(deployed)" -eq 5 ] || fail "a task was deployed again ($(deployed) deployments)"
  local p0 p1
  p0=$(parts 0) p1=$(parts 1)
  wait_until 20 ckpt_after "$new" "${ptr:-0}" ||
    fail "no checkpoint after $ptr completed under $new: $(job_field "$new" "$job" 'd["last_checkpoint"]')"
  # confirmations reach both sink subtasks again: each commits a new part
  wait_until 20 parts_above 0 "$p0" && wait_until 20 parts_above 1 "$p1" ||
    fail "the sinks committed nothing under $new (parts: $p0 -> $(parts 0), $p1 -> $(parts 1))"
  epoch=$(curl -s "$(eval echo "\$${new}_URL")/v1/leader" | json 'd["epoch"]')
  wait_until 20 registered "$new" 3 || fail "the TaskExecutors did not register with $new"
  for t in te1 te2 te3; do
    local tl="${t}_LOG"
    grep -q "following JobManager epoch $epoch" "${!tl}" || fail "$t does not follow epoch $epoch"
  done
  grep -q "it adopts [0-9]* running task(s)" "$te1_LOG" "$te2_LOG" "$te3_LOG" ||
    fail "no TaskExecutor re-pointed its tasks to the new leader"
  echo "$(date +%T) failover $old -> $new: leads ${took}s after kill -9, adopted 5 tasks, checkpoint > ${ptr:-0} completed"
}
failover jm1 jm2 jm3 jm1_PORTS
failover jm2 jm3 jm4 jm2_PORTS
failover jm3 jm4 jm5 jm1_PORTS
failover jm4 jm5 jm6 jm2_PORTS
failover jm5 jm6 "" "" # a slow machine may see the job end first: then jm5 still leads
last=jm6
leads jm6 || last=jm5
wait_until $(((N + 1) / RATE + 30)) job_in_state $last "$job" FINISHED FAILED CANCELED || fail "the job did not end"
job_in_state $last "$job" FINISHED || fail "the job ended $(job_field $last "$job" 'd["state"], d["failure_cause"]')"
[ "$(deployed)" -eq 5 ] || fail "a task was deployed again ($(deployed) deployments)"
! grep -E "\] [0-9a-f]{32} -> (CANCELING|CANCELED|FAILED)" "$te1_LOG" "$te2_LOG" "$te3_LOG" ||
  fail "a task was cancelled or failed on a TaskExecutor"
committed_lines "$OUT" | sort >"$WORK/actual.txt"
if ! cmp -s "$WORK/expected.txt" "$WORK/actual.txt"; then
  echo "missing: $(comm -23 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l), extra: $(comm -13 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l)"
  fail "the committed word counts are not the oracle's exactly once"
fi
lu="${last}_URL"
curl -s "${!lu}/metrics" | grep -q '^te_jobmanager_jobs_adopted_total 1$' || fail "the metric does not count the adoption"
echo "5 failovers at random moments: every new leader adopted the 5 running tasks (no restart), output exactly once"
