# One source vertex feeding two edges (two result partitions: the chain's output is a
# BroadcastingOutputCollector over two RecordWriterOutputs): a forward edge into a
# filter + sink, and a broadcast edge into 2 sinks that each get every record.
# Oracles: seq and awk.
. "$(dirname "$0")/lib.sh"
start_daemon tm
cat >"$WORK/job.json" <<JSON
{ "name": "fanout", "vertices": [
    { "id": "src",   "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "50000" } ] },
    { "id": "even",  "parallelism": 1, "chain": [ { "op": "filter", "regex": "[02468]\$" },
                                                 { "op": "file_sink", "path": "$WORK/even.txt" } ] },
    { "id": "copy",  "parallelism": 2, "chain": [ { "op": "file_sink", "path": "$WORK/copy-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "even", "partitioner": "forward" },
             { "from": "src", "to": "copy", "partitioner": "broadcast" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "job failed"; }
seq 1 50000 | awk '$1 % 2 == 0' | cmp - "$WORK/even.txt" || fail "filtered output differs from awk"
seq 1 50000 | cmp - "$WORK/copy-0.txt" || fail "broadcast copy 0 differs from seq"
seq 1 50000 | cmp - "$WORK/copy-1.txt" || fail "broadcast copy 1 differs from seq"
