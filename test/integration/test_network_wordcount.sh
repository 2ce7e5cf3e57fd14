# Word count across 3 daemons on 127.0.0.1 (tectl spreads the subtasks over them, so
# most channels are remote: credit-based exchange over the partition servers); the
# counts must equal what coreutils computes. Then every daemon is idle again: slots
# free and every network segment back in its arena.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)
# Small segments so the text spans many buffers (and credit really runs out).
for n in a b c; do
  start_daemon "$n" -D taskmanager.numberOfTaskSlots=2 -D taskmanager.memory.segment-size=4kb \
    -D taskmanager.memory.network.size=2mb
done

mkdir -p "$WORK/out"
wordcount_job wordcount-network "$INPUT" 3 3 3 '"execution.buffer-timeout": "5ms"' >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" --executor "$c_RPC" >"$WORK/tectl.out" 2>&1 \
  || { cat "$WORK/tectl.out"; fail "tectl submit across 3 daemons failed"; }

word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort >"$WORK/actual.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"
diff -u "$WORK/expected.txt" "$WORK/actual.txt" | head -20
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "word counts across 3 daemons differ from coreutils"
for i in 0 1 2; do [ -s "$WORK/out/part-$i.txt" ] || fail "count subtask $i wrote nothing"; done

# Every daemon ran a share of the job, and the data really crossed the network.
for n in a b c; do
  st_var="${n}_STATUS"
  http_get "${!st_var}/v1/tasks"
  c=$(json 'len(d["tasks"]+d["finished_history"])' <<<"$HTTP_BODY")
  [ "$c" -ge 3 ] || fail "daemon $n ran $c tasks, expected 3 (one subtask of each vertex)"
  wait_until 10 daemon_idle "${!st_var}" || fail "daemon $n: slots or segments not released after the job"
done
grep -q 'data_port=[1-9]' "$a_LOG" || fail "READY line reports no data port"
echo "word count across 3 daemons matches coreutils ($(wc -l <"$WORK/expected.txt") distinct words)"
