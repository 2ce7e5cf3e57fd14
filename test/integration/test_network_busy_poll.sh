# taskmanager.network.busy-poll: word count at buffer timeout 0 (a buffer per record)
# across 2 daemons whose network I/O threads and waiting tasks busy-poll; the counts
# must equal what coreutils computes, a bad value is refused naming the key, and every
# daemon is idle afterwards (the polling threads stop, slots and segments released).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)

out=$(timeout 20 "$DAEMON" -D taskmanager.rpc.port=0 -D taskmanager.data.port=0 -D taskmanager.status.port=0 \
  -D taskmanager.network.busy-poll=-5 2>&1) && fail "busy-poll -5 was accepted"
grep -q "taskmanager.network.busy-poll" <<<"$out" || fail "the error does not name the key: $out"

for n in a b; do
  start_daemon "$n" -D taskmanager.numberOfTaskSlots=3 -D taskmanager.network.busy-poll=50 \
    -D taskmanager.memory.segment-size=4kb -D taskmanager.memory.network.size=2mb
done
mkdir -p "$WORK/out"
wordcount_job wordcount-busy-poll "$INPUT" 1 2 2 '"execution.buffer-timeout": "0ms"' >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" >"$WORK/tectl.out" 2>&1 \
  || { cat "$WORK/tectl.out"; fail "tectl submit with busy-poll failed"; }

word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort >"$WORK/actual.txt"
diff -u "$WORK/expected.txt" "$WORK/actual.txt" | head -20
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "word counts with busy-poll differ from coreutils"
for n in a b; do
  st_var="${n}_STATUS"
  wait_until 10 daemon_idle "${!st_var}" || fail "daemon $n: slots or segments not released after the job"
done
echo "word count at buffer timeout 0 with busy-poll across 2 daemons matches coreutils"
