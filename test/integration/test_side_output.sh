# Side outputs (Flink's OutputTag): a filter sends the records it rejects to the side
# output "odd"; an edge with "side_output": "odd" carries them to their own sink while
# the main output goes to another. Both sinks compared with awk.
. "$(dirname "$0")/lib.sh"
start_daemon tm
cat >"$WORK/job.json" <<JSON
{ "name": "side-output", "vertices": [
    { "id": "src",  "parallelism": 2, "chain": [ { "op": "sequence", "from": "1", "to": "20000" },
                                                 { "op": "filter", "regex": "[02468]\$", "side_output": "odd" } ] },
    { "id": "even", "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/even-{subtask}.txt" } ] },
    { "id": "odd",  "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/odd.txt" } ] } ],
  "edges": [ { "from": "src", "to": "even", "partitioner": "rebalance" },
             { "from": "src", "to": "odd",  "partitioner": "rebalance", "side_output": "odd" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "job failed"; }
seq 1 20000 | awk '$1 % 2 == 0' | sort >"$WORK/even.expected"
seq 1 20000 | awk '$1 % 2 == 1' | sort >"$WORK/odd.expected"
cat "$WORK"/even-*.txt | sort | cmp - "$WORK/even.expected" || fail "main output differs from awk's even numbers"
sort "$WORK/odd.txt" | cmp - "$WORK/odd.expected" || fail "side output differs from awk's odd numbers"
