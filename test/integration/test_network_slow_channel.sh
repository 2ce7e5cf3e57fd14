# A floating-only input gate under backpressure does not starve a channel behind a
# flooding one (issue 20's "a slow consumer, one busy channel, quiet ones"): daemon a
# gives its remote channels no exclusive buffers (buffers-per-channel 0,
# floating-buffers-per-gate 1, a 1 MB arena), so the channels of its consumer's gate
# share a few floating buffers handed out on announced backlog. The job: sequence 1..N
# at parallelism 4 (subtasks 0, 2 on a, 1, 3 on b) filtered so that subtask 1 (remote)
# floods (every value = 2 mod 4) and the others trickle (values = 0..3 mod 400), all
# rebalanced into ONE deliberately slow consumer on a (slow_sink, forward) writing in
# arrival order. The job must finish by itself (tectl --timeout cancels a hung one), its
# output must be the oracle's set (awk), and the quiet remote channel's records must
# not wait behind the flood: the last of them arrives in the first half of the output
# (a gate that let the flooding channel hold every floating buffer delivers them last).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=400000
start_floating_pair 4
mkdir -p "$WORK/out"
cat >"$WORK/job.json" <<JSON
{ "name": "slow-channel",
  "config": { "execution.buffer-timeout": "5ms" },
  "vertices": [
    { "id": "seq", "parallelism": 4, "chain": [ { "op": "sequence", "from": "1", "to": "$N" },
                                               { "op": "filter", "expr": "\$0 % 4 = 2 OR \$0 % 400 < 4" } ] },
    { "id": "slow", "parallelism": 1,
      "chain": [ { "op": "plugin", "library": "slow_sink.so", "every": "25", "sleep_us": "1000", "forward": "true" },
                 { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "seq", "to": "slow", "partitioner": "rebalance" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$a_RPC" --executor "$b_RPC" --timeout 240s >"$WORK/tectl.out" 2>&1 ||
  { tail -20 "$WORK/tectl.out"; fail "the job did not finish (a hung task is cancelled by --timeout)"; }
committed_output "$WORK/out" >"$WORK/arrival.txt"
seq 1 "$N" | awk '$1 % 4 == 2 || $1 % 400 < 4' | sort >"$WORK/expected.txt"
sort "$WORK/arrival.txt" | cmp -s - "$WORK/expected.txt" ||
  fail "the output differs from the oracle's ($(wc -l <"$WORK/arrival.txt") lines, $(wc -l <"$WORK/expected.txt") expected)"
total=$(wc -l <"$WORK/arrival.txt")
# subtask 3 (on b: a remote channel) emits the values = 0 mod 4
last_quiet=$(awk '$1 % 4 == 0 { last = NR } END { print last + 0 }' "$WORK/arrival.txt")
quiet=$(awk '$1 % 4 == 0' "$WORK/arrival.txt" | wc -l)
echo "quiet remote channel: $quiet records, the last at line $last_quiet of $total"
[ "$quiet" -gt 0 ] || fail "no record of the quiet remote channel"
[ "$last_quiet" -le $((total / 2)) ] ||
  fail "the quiet remote channel's records waited behind the flood (the last at line $last_quiet of $total)"
