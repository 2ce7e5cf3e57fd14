# Shared helpers for integration tests: start real daemons on 127.0.0.1 with port 0,
# read their READY line, query the status endpoint, clean up on exit.
# Sourced by each test_*.sh; BUILD (binaries) and WORK (a scratch dir) are set by run.sh.

set -u
: "${BUILD:?BUILD not set}"
: "${WORK:?WORK not set}"
DAEMON="$BUILD/taskexecutord"
TECTL="$BUILD/tectl"
PIDS=()
LOGS=()

# At exit: stop every daemon gracefully (SIGTERM, so sanitizer leak checks run), then
# fail the test if any daemon log holds a sanitizer report.
cleanup_daemons() {
  local rc=$?
  local p i
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for i in $(seq 1 ${TE_READY_TRIES:-100}); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
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
  local i
  for i in $(seq 1 ${TE_READY_TRIES:-100}); do
    if grep -q ' READY ' "$log" 2>/dev/null; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; fail "daemon $name exited before READY"; fi
    sleep 0.05
  done
  grep -q ' READY ' "$log" || { cat "$log" >&2; fail "daemon $name never logged READY"; }
  local line; line=$(grep ' READY ' "$log" | head -1)
  local rpc status
  rpc=$(sed -n 's/.*rpc_port=\([0-9]*\).*/\1/p' <<<"$line")
  status=$(sed -n 's/.*status_port=\([0-9]*\).*/\1/p' <<<"$line")
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_RPC" '%s' "127.0.0.1:$rpc"
  printf -v "${name}_STATUS" '%s' "http://127.0.0.1:$status"
  printf -v "${name}_LOG" '%s' "$log"
}

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
