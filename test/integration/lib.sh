# Shared helpers for integration tests: start real daemons on 127.0.0.1 with port 0,
# read their READY line, query the status endpoint, clean up on exit.
# Sourced by each test_*.sh; BUILD (binaries) and WORK (a scratch dir) are set by run.sh.

set -u
: "${BUILD:?BUILD not set}"
: "${WORK:?WORK not set}"
DAEMON="$BUILD/taskexecutord"
TECTL="$BUILD/tectl"
JOBMANAGER="$BUILD/tejobmanager"
PIDS=()
LOGS=()
CLEANUP=() # commands run first at exit (servers a test started: start_postgres, start_mosquitto)
AT_EXIT=()

# at_exit 'COMMAND': run (eval) at exit, after the daemons stopped (unmounts, ...).
at_exit() { AT_EXIT+=("$1"); }

# At exit: stop every daemon gracefully (SIGTERM, so sanitizer leak checks run), then
# fail the test if any daemon log holds a sanitizer report.
cleanup_daemons() {
  local rc=$?
  local p i c
  for c in "${CLEANUP[@]:-}"; do [ -n "$c" ] && eval "$c" >/dev/null 2>&1; done
  # A daemon started under a wrapper that forks it (TE_DAEMON_WRAPPER="strace -f ...")
  # is a child of the recorded pid, and strace detaches from it on SIGTERM: stop the
  # children first, or they outlive the test.
  local kids=()
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kids+=($(pgrep -P "$p" 2>/dev/null))
  done
  for p in "${kids[@]:-}" "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
  for p in "${kids[@]:-}" "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for i in $(seq 1 ${TE_READY_TRIES:-100}); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  for p in "${AT_EXIT[@]:-}"; do [ -n "$p" ] && eval "$p"; done
  for l in "${LOGS[@]:-}"; do
    [ -n "$l" ] && [ -f "$l" ] || continue
    local bad='ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:|ERROR SUMMARY: [1-9]|are (definitely|indirectly) lost|Invalid (read|write|free)|uninitialised|Mismatched free'
    if grep -qE "$bad" "$l"; then
      echo "FAIL: sanitizer or valgrind report in $l" >&2
      grep -B5 -A30 -E "$bad" "$l" | head -80 >&2
      rc=1
    fi
  done
  exit $rc
}
trap cleanup_daemons EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# A check that cannot run here is printed and counted by run.sh, never a silent pass.
# skip WHY: the whole test cannot run here: prints "SKIP: WHY" and ends it (exit 77).
# skip_check WHAT WHY: one check of a test cannot run; prints "SKIP WHAT: WHY", goes on.
# Under CI=true (root, Debian 12, every package of scripts/packages.txt) both fail the
# test instead: there, a missing tool or permission is a fault of the install.
# skip_check_by_design WHAT WHY: a check that cannot run in this configuration on any
# machine (memory figures under a sanitizer); printed and counted even under CI.
skip() {
  [ "${CI:-}" != true ] || fail "under CI=true nothing may skip, yet: $*"
  echo "SKIP: $*"
  exit 77
}
skip_check() {
  [ "${CI:-}" != true ] || fail "under CI=true nothing may skip, yet $1: $2"
  echo "SKIP $1: $2"
}
skip_check_by_design() { echo "SKIP $1: $2"; }

# await_ready NAME PID LOG WHAT: waits for a started process's READY line and prints it
# (fails when it exits first or never logs it). line=$(await_ready ...) || exit 1.
await_ready() {
  local name=$1 pid=$2 log=$3 what=$4 i
  for i in $(seq 1 ${TE_READY_TRIES:-100}); do
    if grep -q ' READY ' "$log" 2>/dev/null; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; fail "$what $name exited before READY"; fi
    sleep 0.05
  done
  grep -q ' READY ' "$log" || { cat "$log" >&2; fail "$what $name never logged READY"; }
  grep ' READY ' "$log" | head -1
}

# find_chromium: sets CHROME to Debian's Chromium (or another Chrome), or skips the test.
find_chromium() {
  CHROME=
  local c
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); return 0; fi
  done
  skip "chromium is not installed (scripts/install-deps.sh test)"
}

# chromium_dump URL OUT: the DOM of URL after its scripts ran (5 s of virtual time) in
# headless $CHROME (find_chromium), written to OUT; fails the test when Chromium does.
chromium_dump() {
  timeout 90 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/chrome-profile" --virtual-time-budget=5000 \
    --dump-dom "$1" >"$2" 2>"$WORK/chrome.err" ||
    { tail -20 "$WORK/chrome.err"; fail "chromium failed"; }
}

# start_daemon NAME [-D k=v ...]: starts a daemon, waits for READY, sets
# <NAME>_PID <NAME>_RPC <NAME>_STATUS <NAME>_LOG. Its local state (RocksDB instances)
# goes to $WORK/NAME.state unless -D taskmanager.state.local.dir says otherwise.
start_daemon() {
  local name=$1; shift
  local log="$WORK/$name.log"
  # TE_DAEMON_WRAPPER (e.g. "valgrind --leak-check=full") runs the daemon under a tool.
  ${TE_DAEMON_WRAPPER:-} "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
    -D taskmanager.state.local.dir="$WORK/$name.state" "$@" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  LOGS+=("$log")
  local line; line=$(await_ready "$name" "$pid" "$log" daemon) || exit 1
  local rpc status
  rpc=$(sed -n 's/.*rpc_port=\([0-9]*\).*/\1/p' <<<"$line")
  status=$(sed -n 's/.*status_port=\([0-9]*\).*/\1/p' <<<"$line")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_RPC" '%s' "127.0.0.1:$rpc"
  printf -v "${name}_STATUS" '%s' "http://127.0.0.1:$status"
  printf -v "${name}_LOG" '%s' "$log"
}

# daemon_instrumented: true when the daemon runs under a sanitizer runtime or a wrapper
# (valgrind): memory figures mean nothing then, and it runs several times slower.
daemon_instrumented() {
  ldd "$DAEMON" 2>/dev/null | grep -qE 'lib(asan|tsan)' || [ -n "${TE_DAEMON_WRAPPER:-}" ]
}

# start_jobmanager NAME [-D k=v ...]: starts a tejobmanager (job store $WORK/NAME-store,
# checkpoints $WORK/NAME-ckpt unless given) on ephemeral ports, waits for READY; sets
# <NAME>_PID <NAME>_RPC (host:port TaskExecutors register on) <NAME>_REST (host:port,
# for tectl --jobmanager) <NAME>_URL (http://<REST>) <NAME>_LOG.
start_jobmanager() {
  local name=$1; shift
  local log="$WORK/$name.log"
  ${TE_DAEMON_WRAPPER:-} "$JOBMANAGER" -D jobmanager.rpc.port=0 -D jobmanager.rest.port=0 \
    -D jobmanager.store.dir="$WORK/$name-store" -D state.checkpoints.dir="$WORK/$name-ckpt" \
    -D heartbeat.interval=200ms -D heartbeat.timeout=5s "$@" >"$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  LOGS+=("$log")
  local line; line=$(await_ready "$name" "$pid" "$log" jobmanager) || exit 1
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_RPC" '%s' "127.0.0.1:$(sed -n 's/.*rpc_port=\([0-9]*\).*/\1/p' <<<"$line")"
  printf -v "${name}_REST" '%s' "127.0.0.1:$(sed -n 's/.*rest_port=\([0-9]*\).*/\1/p' <<<"$line")"
  printf -v "${name}_URL" '%s' "http://127.0.0.1:$(sed -n 's/.*rest_port=\([0-9]*\).*/\1/p' <<<"$line")"
  printf -v "${name}_LOG" '%s' "$log"
}

# start_restartable_cluster SLOTS TIMEOUT: a JobManager `jm` on fixed ports with a
# directory store (JM_ARGS restarts it the same: start_jobmanager NAME "${JM_ARGS[@]}")
# and TaskExecutors te1, te2 with SLOTS slots each; heartbeat.timeout TIMEOUT on all.
start_restartable_cluster() {
  local slots=$1 timeout=$2
  JM_ARGS=(-D jobmanager.rpc.port="$(free_port)" -D jobmanager.rest.port="$(free_port)"
           -D jobmanager.store.dir="$WORK/store" -D state.checkpoints.dir="$WORK/ckpt" -D heartbeat.timeout="$timeout")
  start_jobmanager jm "${JM_ARGS[@]}"
  start_executor te1 jm -D taskmanager.numberOfTaskSlots="$slots" -D heartbeat.timeout="$timeout"
  start_executor te2 jm -D taskmanager.numberOfTaskSlots="$slots" -D heartbeat.timeout="$timeout"
  wait_until 10 registered jm 2 || fail "the TaskExecutors did not register"
}

# start_floating_pair SLOTS: daemons a and b with SLOTS slots each, the test plugins and
# 4 KB segments; a's remote input channels get no exclusive buffers (floating-only gates:
# buffers-per-channel 0, floating-buffers-per-gate 1) from a 1 MB arena.
start_floating_pair() {
  local common=(-D taskmanager.numberOfTaskSlots="$1" -D plugins.dir="$BUILD/plugins" -D taskmanager.memory.segment-size=4kb)
  start_daemon a "${common[@]}" -D taskmanager.memory.network.size=1mb \
    -D taskmanager.network.memory.buffers-per-channel=0 -D taskmanager.network.memory.floating-buffers-per-gate=1
  start_daemon b "${common[@]}"
}

# start_executor NAME JM [-D k=v ...]: a taskexecutord registered with JobManager JM
# (jobmanager.address = <JM>_RPC, heartbeats every 200 ms).
start_executor() {
  local name=$1 jm=$2; shift 2
  local rpc="${jm}_RPC"
  start_daemon "$name" -D jobmanager.address="${!rpc}" -D heartbeat.interval=200ms -D heartbeat.timeout=5s "$@"
}

# registered JM N: the JobManager lists exactly N TaskExecutors, each reachable.
registered() {
  local url="${1}_URL"
  [ "$(curl -s "${!url}/v1/taskmanagers" | json 'sum(1 for t in d["taskmanagers"] if t["gateway"] == "open" and t["connected"])' 2>/dev/null)" = "$2" ]
}

# job_field JM JOB EXPR: EXPR over GET /v1/jobs/<JOB> (e.g. 'd["state"]').
job_field() {
  local url="${1}_URL"
  curl -s "${!url}/v1/jobs/$2" | json "$3" 2>/dev/null
}

# job_in_state JM JOB STATE...: the job is in one of the states.
job_in_state() {
  local jm=$1 job=$2; shift 2
  local st; st=$(job_field "$jm" "$job" 'd["state"]') || return 1
  local s; for s in "$@"; do [ "$st" = "$s" ] && return 0; done
  return 1
}

# job_checkpointed JM JOB N: the job is RUNNING with at least N completed checkpoints.
job_checkpointed() {
  [ "$(job_field "$1" "$2" "d['state'] == 'RUNNING' and d['checkpoints']['completed'] >= $3")" = True ]
}

# job_tasks_running JM JOB N: N subtasks of the job are RUNNING.
job_tasks_running() {
  [ "$(job_field "$1" "$2" 'sum(1 for v in d["vertices"] for s in v["subtasks"] if s["state"] == "RUNNING")')" = "$3" ]
}

# prom_python: sets PROM_PY to a python3 with the Prometheus client parser (it may live
# in Debian's python3 only, while another python3 comes first in PATH); fails without.
prom_python() {
  PROM_PY=
  local p
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import prometheus_client.parser' 2>/dev/null; then PROM_PY=$p; return 0; fi
  done
  fail "no python3 with the Prometheus client parser (apt-get install python3-prometheus-client)"
}

# committed_lines DIR: the committed output of file sinks under DIR (the plain files and
# their committed parts; in-progress and pending files left out), one record a line.
committed_lines() {
  local f
  for f in "$1"/*; do
    case "$f" in *.inprogress-*|*.pending-*) continue;; esac
    [ -f "$f" ] && cat "$f"
  done
}

# seq_sink_job NAME TO RATE DIR > job.json: sequence 0..TO at RATE records/s (one source
# subtask) rebalanced into two file sinks DIR/part-{subtask}.txt: its exactly-once output
# is `seq 0 TO`.
seq_sink_job() {
  cat <<JSON
{ "name": "$1", "vertices": [
    { "id": "seq", "parallelism": 1, "chain": [ { "op": "sequence", "from": 0, "to": $2, "rate": $3, "uid": "seq" } ] },
    { "id": "sink", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$4/part-{subtask}.txt", "uid": "sink" } ] } ],
  "edges": [ { "from": "seq", "to": "sink", "partitioner": "rebalance" } ] }
JSON
}

# free_port: a TCP port nobody listens on now (for daemons restarted on the same port).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# http_get URL: sets HTTP_CODE and HTTP_BODY (call it directly, not in $(...)).
http_get() {
  local out="$WORK/http.body"
  HTTP_CODE=$(curl -s -o "$out" -w '%{http_code}' "$1") || HTTP_CODE=000
  HTTP_BODY=$(cat "$out" 2>/dev/null); rm -f "$out"
}
# http_body URL: the body on stdout (for pipelines).
http_body() { curl -s "$1"; }

# json EXPR < json: evaluates a Python expression over the parsed document `d`.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# wait_until SECONDS CMD...: retries CMD every 0.1s until it succeeds.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt $end ]; do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# running_tasks STATUS: how many tasks of the daemon whose status URL is STATUS are RUNNING.
running_tasks() { http_body "$1/v1/tasks" | json 'sum(1 for t in d["tasks"] if t["state"]=="RUNNING")'; }

# tasks_running STATUS N: exactly N tasks of the daemon whose status URL is STATUS are
# RUNNING (for wait_until).
tasks_running() { [ "$(running_tasks "$1")" = "$2" ]; }

# submit_bg OUT ARGS...: `tectl submit ARGS...` in the background, its output in OUT;
# SUBMIT_PID is its pid (wait for it, or kill it).
submit_bg() {
  local out=$1; shift
  "$TECTL" submit "$@" >"$out" 2>&1 &
  SUBMIT_PID=$!
}

# submit_running OUT N STATUS ARGS...: submit_bg, then waits (20 s) until N tasks are
# RUNNING on the daemon at STATUS; fails the test, showing tectl's output, otherwise.
submit_running() {
  local out=$1 n=$2 st=$3; shift 3
  submit_bg "$out" "$@"
  wait_until 20 tasks_running "$st" "$n" || { cat "$out"; fail "tasks never all RUNNING ($n expected on $st)"; }
}

# Every slot free and every network segment back in the arena.
daemon_idle() {
  local st=$1
  http_get "$st/v1/overview"
  [ "$HTTP_CODE" = 200 ] || return 1
  local ov=$HTTP_BODY
  python3 -c '
import json,sys
d=json.loads(sys.argv[1])
ok = d["slots"]["free"] == d["slots"]["total"] and d["network"]["segments_available"] == d["network"]["segments_total"]
sys.exit(0 if ok else 1)' "$ov"
}

# The word-count job several tests run: file_lines -> tokenize -> (hash) keyed_count
# emit=final + file_sink into $WORK/out/part-{subtask}.txt.
# wordcount_job NAME INPUT P_LINES P_WORDS P_COUNT [CONFIG_ENTRIES] > job.json
wordcount_job() {
  mkdir -p "$WORK/out"
  cat <<JSON
{ "name": "$1", "max_parallelism": 128, "config": { ${6:-} },
  "vertices": [
    { "id": "lines", "parallelism": $3, "chain": [ { "op": "file_lines", "path": "$2" } ] },
    { "id": "words", "parallelism": $4, "chain": [ { "op": "tokenize" } ] },
    { "id": "count", "parallelism": $5, "chain": [ { "op": "keyed_count", "emit": "final" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "lines", "to": "words", "partitioner": "rebalance" },
             { "from": "words", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
}

# The independent oracle of that job: "word<TAB>count" lines, sorted, by coreutils.
# word_count_oracle INPUT > expected.txt (fails the test when it computes nothing)
word_count_oracle() {
  tr -cs 'A-Za-z' '\n' <"$1" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}' | sort
  [ -s "$1" ] || fail "oracle input $1 is empty"
}

# committed_output DIR: committed_lines (what the file_sinks under DIR committed:
# `<file>` written when a subtask took no checkpoint, `<file>.part-*` per committed
# checkpoint), unsorted.
committed_output() { committed_lines "$1"; }

# random_words_file FILE SEED: 200,000 lines of 5 words from a random vocabulary of 1,500.
random_words_file() {
  python3 - "$1" "$2" <<'PY'
import random, string, sys
random.seed(int(sys.argv[2]))
words = [''.join(random.choice(string.ascii_lowercase) for _ in range(random.randint(2, 7))) for _ in range(1500)]
with open(sys.argv[1], 'w') as f:
    for _ in range(200000):
        f.write(' '.join(random.choice(words) for _ in range(5)) + '\n')
PY
}

# free_ports N: N free loopback TCP ports, space-separated.
free_ports() {
  python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()' "$1"
}

# need_tool NAME WHY: a system the test needs is missing: SKIP (counted by the runner as
# a pass with a SKIP line), or FAIL under CI=true, where scripts/install-deps.sh installs it.
need_tool() {
  [ "${CI:-}" = true ] && fail "$1 is not installed ($2; scripts/install-deps.sh installs it)"
  echo "SKIP $(basename "$0" .sh): $1 is not installed ($2)"
  exit 0
}

# as_unprivileged CMD...: runs CMD as nobody when root (servers such as PostgreSQL refuse
# to run as root), else as the current user.
as_unprivileged() {
  if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; else "$@"; fi
}

# start_postgres [-c name=value ...]: a throwaway PostgreSQL server (initdb + pg_ctl, as
# nobody when root) in a temp dir on a free 127.0.0.1 port, with
# max_prepared_transactions=20 unless given, password authentication over TCP, stopped
# and removed at exit. Sets PG_DIR PG_PORT PG_PASSWORD PG_CONNINFO (user te, database
# postgres); pg_sql SQL runs a statement and prints the rows (unaligned, tab-separated).
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
start_postgres() {
  local bin; bin=$(pg_bin)
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && command -v psql >/dev/null || need_tool PostgreSQL "initdb, pg_ctl, psql"
  PG_BIN=$bin
  PG_DIR=$(mktemp -d /tmp/te-pg.XXXXXX)
  chmod 0755 "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$PG_DIR"
  PG_PORT=$(free_ports 1)
  PG_PASSWORD="pw-$RANDOM-secret-$RANDOM"
  printf '%s\n' "$PG_PASSWORD" | as_unprivileged tee "$PG_DIR/pw" >/dev/null
  (cd "$PG_DIR" && as_unprivileged "$bin/initdb" -D "$PG_DIR/data" -U te --pwfile="$PG_DIR/pw" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync) >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; fail "initdb failed"; }
  CLEANUP+=("stop_postgres")
  PG_OPTS="-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR -c fsync=off -c max_prepared_transactions=20 $*"
  pg_ctl_as start
  PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=te password=$PG_PASSWORD dbname=postgres"
}
# pg_ctl_as start|stop|restart [-o extra options]: pg_ctl on the test's server.
pg_ctl_as() {
  local cmd=$1; shift
  (cd "$PG_DIR" && as_unprivileged "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 -m fast \
    -o "$PG_OPTS ${*:-}" "$cmd") >"$WORK/pg_ctl.log" 2>&1 || { cat "$WORK/pg_ctl.log" "$PG_DIR/server.log" 2>/dev/null | tail -n 20; fail "pg_ctl $cmd failed"; }
}
stop_postgres() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
  (cd "$PG_DIR" && as_unprivileged "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop) >/dev/null 2>&1
  rm -rf "$PG_DIR"
}
pg_sql() {
  PGPASSWORD=$PG_PASSWORD psql -X -q -At -F $'\t' -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$PG_PORT user=te dbname=postgres" -c "$1"
}

# start_mosquitto: a throwaway mosquitto broker (as nobody when root) on a free
# 127.0.0.1 port: anonymous, in-memory, queueing up to 100000 messages per persistent
# session; stopped at exit. Sets MQTT_PORT MQTT_DIR; needs mosquitto_pub/_sub too.
start_mosquitto() {
  local bin; bin=$(command -v mosquitto || ls /usr/sbin/mosquitto 2>/dev/null)
  [ -n "$bin" ] || need_tool mosquitto "the MQTT broker"
  command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null || need_tool mosquitto-clients "mosquitto_pub, mosquitto_sub"
  MQTT_DIR=$(mktemp -d /tmp/te-mqtt.XXXXXX)
  chmod 0755 "$MQTT_DIR"
  MQTT_PORT=$(free_ports 1)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 0\n' \
    "$MQTT_PORT" >"$MQTT_DIR/mosquitto.conf"
  chmod 0644 "$MQTT_DIR/mosquitto.conf"
  local as=()
  [ "$(id -u)" -eq 0 ] && as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  "${as[@]}" "$bin" -c "$MQTT_DIR/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
  MQTT_PID=$!
  CLEANUP+=("stop_mosquitto")
  wait_until 10 mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -t te/ping -m up -q 1 2>/dev/null ||
    { cat "$WORK/mosquitto.log"; fail "mosquitto did not start on port $MQTT_PORT"; }
}
stop_mosquitto() {
  [ -n "${MQTT_PID:-}" ] && kill -TERM "$MQTT_PID" 2>/dev/null
  [ -n "${MQTT_PID:-}" ] && wait "$MQTT_PID" 2>/dev/null
  [ -n "${MQTT_DIR:-}" ] && rm -rf "$MQTT_DIR"
  MQTT_PID=
}

# start_etcd_cluster N: an N-member etcd cluster (Debian's etcd-server) on free
# 127.0.0.1 ports, member i's data in $WORK/etcd-i, killed at exit (before the daemons
# stop: the shell waits for its children then).
# Sets ETCD_ENDPOINTS (the client URLs, comma-separated: high-availability.etcd.endpoints)
# and ETCD_URL[i]; etcd_kill I kills member I (-9), etcd_start_member I starts it again
# on its data; etcd_get KEY prints a key's value (empty when absent).
start_etcd_cluster() {
  local n=$1 i ports
  [ -x /usr/bin/etcd ] || need_tool etcd "etcd-server: the etcd cluster of the high-availability tests"
  read -r -a ports <<<"$(free_ports $((2 * n)))"
  ETCD_N=$n ETCD_CLUSTER= ETCD_ENDPOINTS=
  ETCD_URL=() ETCD_PEER=() ETCD_PID=()
  for i in $(seq 0 $((n - 1))); do
    ETCD_URL[$i]=http://127.0.0.1:${ports[$((2 * i))]}
    ETCD_PEER[$i]=http://127.0.0.1:${ports[$((2 * i + 1))]}
    ETCD_CLUSTER+="${ETCD_CLUSTER:+,}e$i=${ETCD_PEER[$i]}"
    ETCD_ENDPOINTS+="${ETCD_ENDPOINTS:+,}${ETCD_URL[$i]}"
  done
  for i in $(seq 0 $((n - 1))); do etcd_start_member "$i"; done
  CLEANUP+=("stop_etcd_cluster")
  wait_until 30 etcd_healthy || { tail -5 "$WORK"/etcd-*.log; fail "etcd did not become healthy"; }
}
etcd_start_member() {
  local i=$1
  /usr/bin/etcd --name "e$i" --data-dir "$WORK/etcd-$i" --listen-client-urls "${ETCD_URL[$i]}" \
    --advertise-client-urls "${ETCD_URL[$i]}" --listen-peer-urls "${ETCD_PEER[$i]}" \
    --initial-advertise-peer-urls "${ETCD_PEER[$i]}" --initial-cluster "$ETCD_CLUSTER" \
    --initial-cluster-token "te-$$" --initial-cluster-state new >>"$WORK/etcd-$i.log" 2>&1 &
  ETCD_PID[$i]=$!
}
etcd_kill() { kill -9 "${ETCD_PID[$1]}" 2>/dev/null; wait "${ETCD_PID[$1]}" 2>/dev/null; ETCD_PID[$1]=; }
etcd_healthy() {
  local i
  for i in $(seq 0 $((ETCD_N - 1))); do
    [ -z "${ETCD_PID[$i]}" ] && continue
    curl -s -m 2 "${ETCD_URL[$i]}/health" | grep -q '"health":"true"' || return 1
  done
}
stop_etcd_cluster() {
  local i
  for i in $(seq 0 $((ETCD_N - 1))); do [ -n "${ETCD_PID[$i]:-}" ] && etcd_kill "$i"; done
  rm -rf "$WORK"/etcd-[0-9]*
}
etcd_get() {
  local k; k=$(printf '%s' "$1" | base64 -w0)
  local url; for url in "${ETCD_URL[@]}"; do
    curl -s -m 2 "$url/v3/kv/range" -d "{\"key\":\"$k\"}" 2>/dev/null |
      python3 -c 'import json,sys,base64; d=json.load(sys.stdin); kv=d.get("kvs") or [{}]; print(base64.b64decode(kv[0].get("value","")).decode())' 2>/dev/null && return 0
  done
  return 1
}

# log_time_since LOG PATTERN T0: seconds from T0 (date +%s.%N) to the first line of LOG
# matching PATTERN (by its timestamp); empty when none.
log_time_since() {
  python3 - "$@" <<'PY'
import datetime, re, sys
log, pat, t0 = sys.argv[1], sys.argv[2], float(sys.argv[3])
for line in open(log, errors="replace"):
    if re.search(pat, line):
        t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        print("%.3f" % (t.timestamp() - t0))
        break
PY
}

# start_ha_pair ID TTL [-D k=v ...]: two JobManagers with high availability on the
# cluster of start_etcd_cluster (cluster id ID, lease TTL seconds, checkpoints in
# $WORK/ckpt, the extra -D for both) on fixed free ports: jm1 (waited for until it leads)
# and jm2 (the standby). Sets HA_ARGS (their shared arguments; jm<k>_PORTS restarts one
# on its ports: start_jobmanager NAME ${jm1_PORTS[@]} "${HA_ARGS[@]}").
start_ha_pair() {
  local id=$1 ttl=$2; shift 2
  local p; read -r -a p <<<"$(free_ports 4)"
  HA_ARGS=(-D high-availability.type=etcd -D high-availability.etcd.endpoints="$ETCD_ENDPOINTS"
           -D high-availability.cluster-id="$id-$$" -D high-availability.etcd.lease-ttl="${ttl}s"
           -D state.checkpoints.dir="$WORK/ckpt" "$@")
  jm1_PORTS=(-D jobmanager.rpc.port="${p[0]}" -D jobmanager.rest.port="${p[1]}")
  jm2_PORTS=(-D jobmanager.rpc.port="${p[2]}" -D jobmanager.rest.port="${p[3]}")
  start_jobmanager jm1 "${jm1_PORTS[@]}" "${HA_ARGS[@]}"
  wait_until 10 leads jm1 || fail "the first JobManager did not become the leader: $(curl -s "$jm1_URL/v1/leader")"
  start_jobmanager jm2 "${jm2_PORTS[@]}" "${HA_ARGS[@]}"
}

# start_ha_executors N [-D k=v ...]: te1..teN (2 slots each) listing both JobManagers of
# start_ha_pair, registering again within 500 ms; waits until the leader jm1 has them.
start_ha_executors() {
  local n=$1 t; shift
  for t in $(seq 1 "$n"); do
    start_daemon "te$t" -D jobmanager.address="$jm1_RPC,$jm2_RPC" -D taskmanager.numberOfTaskSlots=2 \
      -D heartbeat.interval=200ms -D cluster.registration.max-timeout=500ms "$@"
  done
  wait_until 15 registered jm1 "$n" || fail "the TaskExecutors did not register with the leader"
}

# expect_seq_once DIR N: the committed output of the file sinks in DIR is `seq 0 N`
# exactly once (sorted numerically), else the test fails naming what is missing/repeated.
expect_seq_once() {
  committed_lines "$1" | sort -n >"$WORK/actual.txt"
  seq 0 "$2" >"$WORK/expected.txt"
  if ! cmp -s "$WORK/expected.txt" "$WORK/actual.txt"; then
    echo "missing: $(comm -23 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l), extra/duplicate: $(sort "$WORK/actual.txt" | uniq -d | wc -l)"
    fail "committed output of $1 is not seq 0 $2 exactly once"
  fi
}

# leads JM: GET /v1/leader of JobManager JM says it leads.
leads() {
  local url="${1}_URL"
  [ "$(curl -s -m 2 "${!url}/v1/leader" | json 'd["leader"]' 2>/dev/null)" = True ]
}

# start_kafka NAME:PARTITIONS...: a Kafka cluster with these topics: the real one at
# $KAFKA_BOOTSTRAP when set (topics created there with a per-run prefix), else
# librdkafka's mock cluster ($BUILD/kafka_tool mock, stopped at exit). Sets KAFKA_BS
# (bootstrap servers), KAFKA_REAL (1 against a real broker, else 0) and KT (the topic
# prefix: use "${KT}name"). ktool runs $BUILD/kafka_tool.
ktool() { "$BUILD/kafka_tool" "$@"; }
start_kafka() {
  local specs=() t
  if [ -n "${KAFKA_BOOTSTRAP:-}" ]; then
    KT="te-$$-$RANDOM-"; KAFKA_BS=$KAFKA_BOOTSTRAP; KAFKA_REAL=1
    for t in "$@"; do specs+=("$KT$t"); done
    ktool create "$KAFKA_BS" "${specs[@]}" || fail "cannot create topics on $KAFKA_BS"
    echo "Kafka: the real cluster at $KAFKA_BS"
    return 0
  fi
  KT=""; KAFKA_REAL=0
  for t in "$@"; do specs+=(--topic "$t"); done
  ktool mock "${specs[@]}" >"$WORK/kafka_mock.out" 2>"$WORK/kafka_mock.log" &
  KAFKA_MOCK_PID=$!
  CLEANUP+=("kill -TERM $KAFKA_MOCK_PID; wait $KAFKA_MOCK_PID")
  wait_until 10 grep -q '^BOOTSTRAP ' "$WORK/kafka_mock.out" || { cat "$WORK/kafka_mock.log"; fail "the Kafka mock cluster did not start"; }
  KAFKA_BS=$(awk '/^BOOTSTRAP /{print $2}' "$WORK/kafka_mock.out")
  echo "Kafka: librdkafka's mock cluster at $KAFKA_BS (set KAFKA_BOOTSTRAP to use a real broker)"
}
