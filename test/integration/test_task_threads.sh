# Task threads run under taskmanager.task.scheduling-policy and carry their task's name;
# the daemon's own threads keep the normal policy. Default auto: SCHED_BATCH, but
# SCHED_OTHER for a job with buffer timeout 0 (latency first). Read from
# /proc/<pid>/task/*/{comm,stat} (the kernel's view) while a job runs. A bad value is
# refused at start with the key and the allowed values named.
. "$(dirname "$0")/lib.sh"
# job_json BUFFER_TIMEOUT > job.json
job_json() {
  cat <<JSON
{ "name": "forever", "config": { "execution.buffer-timeout": "$1" }, "vertices": [
    { "id": "seq", "parallelism": 2, "chain": [ { "op": "sequence", "unbounded": "true" } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
}

# threads PID: one line per thread, "<policy> <name>" (policy: field 41 of stat).
threads() {
  python3 - "$1" <<'PY'
import os, sys
pid = sys.argv[1]
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        name = open(f"/proc/{pid}/task/{tid}/comm").read().rstrip("\n")
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
    except OSError:
        continue
    fields = stat[stat.rindex(")") + 2:].split()
    print(fields[41 - 3], name)
PY
}

# check NAME BUFFER_TIMEOUT EXPECTED_TASK_POLICY: runs the job on daemon NAME and checks
# its threads.
check() {
  local name=$1 want=$3
  job_json "$2" >"$WORK/job.json"
  local rpc_var=${name}_RPC status_var=${name}_STATUS pid_var=${name}_PID
  submit_running "$WORK/$name.tectl" 4 "${!status_var}" "$WORK/job.json" --executor "${!rpc_var}"
  local tectl_pid=$SUBMIT_PID
  threads "${!pid_var}" | sort >"$WORK/$name.threads"
  echo "--- $name threads (policy name):"; cat "$WORK/$name.threads"
  # the four task threads, named after their tasks ("seq (1/2)" ...)
  local tasks; tasks=$(grep -cE '^[0-9]+ (seq|sink) \([12]/2\)$' "$WORK/$name.threads" || true)
  [ "$tasks" = 4 ] || fail "$name: expected 4 task threads named 'seq (i/2)' / 'sink (i/2)', found $tasks"
  local wrong; wrong=$(grep -E ' (seq|sink) \(' "$WORK/$name.threads" | grep -vc "^$want " || true)
  [ "$wrong" = 0 ] || fail "$name: $wrong task threads without policy $want"
  # the daemon's own threads: normal policy, named
  grep -qE '^0 te-net-io-0$' "$WORK/$name.threads" || fail "$name: no network I/O thread 'te-net-io-0' with policy 0"
  grep -qE '^0 te-flusher$' "$WORK/$name.threads" || fail "$name: no output flusher thread 'te-flusher' with policy 0"
  kill -INT "$tectl_pid"; wait "$tectl_pid" || true
  wait_until 10 daemon_idle "${!status_var}" || fail "$name: not idle after cancel"
  echo "$name, buffer timeout $2: task threads have policy $want"
}

start_daemon dflt -D taskmanager.numberOfTaskSlots=2
check dflt 100ms 3 # auto: SCHED_BATCH
check dflt 0 0     # auto, latency first: SCHED_OTHER
start_daemon other -D taskmanager.numberOfTaskSlots=2 -D taskmanager.task.scheduling-policy=other
check other 100ms 0
start_daemon batch -D taskmanager.numberOfTaskSlots=2 -D taskmanager.task.scheduling-policy=batch
check batch 0 3

rc=0
"$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
  -D taskmanager.task.scheduling-policy=fifo >"$WORK/bad.log" 2>&1 || rc=$?
cat "$WORK/bad.log"
[ "$rc" != 0 ] || fail "the daemon started with scheduling-policy 'fifo'"
grep -q "invalid value 'fifo' for key 'taskmanager.task.scheduling-policy': expected one of auto|batch|other" "$WORK/bad.log" \
  || fail "no clear error for a bad scheduling policy"
echo "PASS"
