# Managed memory (taskmanager.memory.managed.size, split over the slots).
#  1. hashmap: a daemon with 2 slots and 16 MiB of managed memory (8 MiB per slot)
#     runs two jobs at once. One keeps 2,000,000 distinct keys in keyed state (far more
#     than 8 MiB): it must fail with a message naming the budget (the slot's share and
#     taskmanager.memory.managed.size), not be killed by the kernel; the other, a word
#     count in the other slot, must finish with the coreutils result meanwhile.
#  2. rocksdb: a daemon with 1 slot and 1 MiB of managed memory runs a keyed count over
#     800,000 distinct keys (10.6 MiB of keys and counts: 10 times the budget); it must
#     finish with the right counts (every key once, count 1) while the daemon's
#     resident memory, sampled every 100 ms, stays below its idle size + the budget +
#     MARGIN_MB (RocksDB's own structures outside the cache: table readers, the
#     iterators' pinned blocks, compaction buffers, thread stacks, malloc's arenas).
#  3. the same job on a daemon with a 128 MiB slot: once it is gone, the daemon's RSS
#     is back within AFTER_MB (10) of its idle size.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
MARGIN_MB=${MARGIN_MB:-32}

# 1. hashmap over its budget, next to a job that fits
start_daemon m -D taskmanager.numberOfTaskSlots=2 -D taskmanager.memory.managed.size=16mb
cat >"$WORK/big.json" <<JSON
{ "name": "too-much-state", "vertices": [
    { "id": "all", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": 2000000 },
                                               { "op": "keyed_count", "emit": "final" }, { "op": "discard" } ] } ],
  "edges": [] }
JSON
submit_bg "$WORK/big.out" "$WORK/big.json" --executor "$m_RPC"
BIG=$SUBMIT_PID
random_words_file "$WORK/in.txt" 5
wordcount_job fits "$WORK/in.txt" 1 1 1 >"$WORK/wc.json"
word_count_oracle "$WORK/in.txt" >"$WORK/expected.txt"
"$TECTL" submit "$WORK/wc.json" --executor "$m_RPC" >"$WORK/wc.out" 2>&1 || { cat "$WORK/wc.out"; fail "the word count next to the big job failed"; }
wait "$BIG" && { cat "$WORK/big.out"; fail "the job over its managed memory did not fail"; }
grep -q "slot [01]'s managed memory" "$WORK/big.out" && grep -q "taskmanager.memory.managed.size" "$WORK/big.out" \
  || { tail -5 "$WORK/big.out"; fail "the failure does not name the budget"; }
grep -q "keyed_count" "$WORK/big.out" || { tail -5 "$WORK/big.out"; fail "the failure does not name the operator"; }
sort "$WORK"/out/part-*.txt >"$WORK/actual.txt"
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "the word count next to the failed job differs from coreutils"
kill -0 "$m_PID" || fail "the daemon died"
wait_until 10 daemon_idle "$m_STATUS" || fail "daemon m not idle after the jobs"
echo "hashmap over 8 MiB: $(grep -o "slot [01]'s managed memory[^)]*)" "$WORK/big.out" | head -1)"

# 2. rocksdb: 10x its budget, within it (a sanitizer build: a smaller state, no RSS
#    check — its shadow memory and quarantine are not the daemon's)
SANITIZED=0
ldd "$DAEMON" | grep -qE 'lib(a|t)san' && SANITIZED=1
N=800000
[ $SANITIZED -eq 0 ] || N=150000
start_daemon r -D taskmanager.numberOfTaskSlots=1 -D taskmanager.memory.managed.size=1mb \
  -D taskmanager.memory.network.size=8mb
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
sleep 0.5
IDLE=$(rss_kb "$r_PID")
cat >"$WORK/rocks.json" <<JSON
{ "name": "rocksdb-10x", "config": { "state.backend.type": "rocksdb" }, "vertices": [
    { "id": "all", "parallelism": 1, "chain": [ { "op": "sequence", "from": 1, "to": $N },
                                               { "op": "keyed_count", "emit": "updates" },
                                               { "op": "file_sink", "path": "$WORK/rocks/part-{subtask}.txt" } ] } ],
  "edges": [] }
JSON
submit_bg "$WORK/rocks.out" "$WORK/rocks.json" --executor "$r_RPC" --timeout 300s
T=$SUBMIT_PID
max=$IDLE
while kill -0 "$T" 2>/dev/null; do
  v=$(rss_kb "$r_PID") || break
  [ "$v" -gt "$max" ] && max=$v
  sleep 0.1
done
wait "$T" || { tail -5 "$WORK/rocks.out"; fail "the rocksdb job failed"; }
limit=$((IDLE + 1024 + MARGIN_MB * 1024))
raw=$(awk -F'\t' '{ b += length($1) + 8 } END { print int(b / 1048576) }' "$WORK"/rocks/part-0.txt)
echo "rocksdb over $N keys ($raw MiB of keys and counts): daemon RSS idle $((IDLE / 1024)) MiB, peak $((max / 1024)) MiB (limit idle + 1 MiB + $MARGIN_MB MiB = $((limit / 1024)) MiB)"
[ $SANITIZED -eq 1 ] || [ "$raw" -ge 10 ] || fail "the state ($raw MiB) is not 10 times the budget"
if [ $SANITIZED -eq 1 ]; then
  echo "SKIP rocksdb_rss_within_budget: a sanitizer build (its shadow memory and quarantine are not the daemon's)"
else
  [ "$max" -le "$limit" ] || fail "the daemon's RSS peaked at $((max / 1024)) MiB, above idle + budget + margin ($((limit / 1024)) MiB)"
fi
awk -F'\t' -v n=$N '$2 != 1 || $1 < 1 || $1 > n { bad++ } END { if (bad || NR != n) { print NR " lines, " bad+0 " bad"; exit 1 } }' \
  "$WORK"/rocks/part-0.txt || fail "the rocksdb job's counts are wrong"
[ "$(cut -f1 "$WORK/rocks/part-0.txt" | sort -u | wc -l)" -eq $N ] || fail "keys missing or repeated in the rocksdb job's output"

# 3. Once a rocksdb job is gone, the daemon gives its memory back: RSS within AFTER_MB
#    of its idle size. A slot of 128 MiB (memtables of 16 MiB, blocks of several MiB)
#    runs the keyed count of 2. What may stay: RocksDB's library code paged in, its
#    thread pools, malloc's arenas (capped by malloc_policy; with glibc's own
#    thresholds they kept some 20 MiB).
AFTER_MB=${AFTER_MB:-10}
start_daemon q -D taskmanager.numberOfTaskSlots=1 -D taskmanager.memory.managed.size=128mb \
  -D taskmanager.memory.network.size=8mb
sleep 0.5
IDLE=$(rss_kb "$q_PID")
sed "s|$WORK/rocks/|$WORK/rocks2/|" "$WORK/rocks.json" >"$WORK/rocks2.json"
"$TECTL" submit "$WORK/rocks2.json" --executor "$q_RPC" --timeout 300s >"$WORK/rocks2.out" 2>&1 \
  || { tail -5 "$WORK/rocks2.out"; fail "the rocksdb job on the 128 MiB slot failed"; }
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$q_PID/status")
wait_until 10 daemon_idle "$q_STATUS" || fail "daemon q not idle after the rocksdb job"
after=0
for _ in $(seq 50); do
  after=$(rss_kb "$q_PID")
  [ "$after" -le $((IDLE + AFTER_MB * 1024)) ] && break
  sleep 0.2
done
echo "after the rocksdb job: daemon RSS $((after / 1024)) MiB (idle $((IDLE / 1024)) MiB, peak $((peak / 1024)) MiB, limit idle + $AFTER_MB MiB)"
if [ $SANITIZED -eq 1 ]; then
  echo "SKIP rocksdb_rss_after_job: a sanitizer build (its quarantine keeps freed memory)"
else
  [ "$after" -le $((IDLE + AFTER_MB * 1024)) ] \
    || fail "10 s after the rocksdb job the daemon's RSS is $((after / 1024)) MiB, above idle + $AFTER_MB MiB ($(((IDLE + AFTER_MB * 1024) / 1024)) MiB)"
fi
