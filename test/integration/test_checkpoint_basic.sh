# Aligned checkpoints end to end through one daemon, driven by tectl's coordinator: a
# keyed word count (file_lines -> tokenize -> keyed_count + file_sink, parallelism 1/2/2)
# with a checkpoint every 30ms. Checks: checkpoints complete (tectl reports them, every
# task wrote its snapshot file under state.checkpoints.dir/<job>/chk-<n>/), the
# committed parts of the two-phase file sink equal the coreutils word count, then the
# job resumed from a retained checkpoint (--from-checkpoint) again commits exactly the
# word count: the parts committed up to that checkpoint stay byte for byte, the later
# ones are rewritten — nothing lost, nothing duplicated.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_daemon tm -D taskmanager.numberOfTaskSlots=4

mkdir -p "$WORK/out"
python3 - "$WORK/in.txt" <<'PY'
import random, string, sys
random.seed(7)
words = [''.join(random.choice(string.ascii_lowercase) for _ in range(random.randint(2, 7))) for _ in range(1500)]
with open(sys.argv[1], 'w') as f:
    for _ in range(200000):
        f.write(' '.join(random.choice(words) for _ in range(5)) + '\n')
PY
cat >"$WORK/job.json" <<JSON
{
  "name": "checkpoint-basic",
  "max_parallelism": 128,
  "config": { "execution.buffer-timeout": "10ms" },
  "vertices": [
    { "id": "lines", "parallelism": 1, "chain": [ { "op": "file_lines", "path": "$WORK/in.txt" } ] },
    { "id": "words", "parallelism": 2, "chain": [ { "op": "tokenize" } ] },
    { "id": "count", "parallelism": 2, "chain": [ { "op": "keyed_count", "emit": "final" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] }
  ],
  "edges": [
    { "from": "lines", "to": "words", "partitioner": "rebalance" },
    { "from": "words", "to": "count", "partitioner": "hash", "key_field": 0 }
  ]
}
JSON
tr -cs 'A-Za-z' '\n' <"$WORK/in.txt" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}' | sort >"$WORK/expected.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"

"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" --checkpoint-interval 30ms --checkpoint-dir "$WORK/chk" \
  >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "tectl submit with checkpoints failed"; }
grep -q "checkpoint [0-9]* completed" "$WORK/tectl.out" || { cat "$WORK/tectl.out"; fail "no checkpoint completed"; }
grep -qi "declining checkpoint" "$tm_LOG" && fail "a task declined a checkpoint"
cat "$WORK"/out/part-*.txt.part-* | sort >"$WORK/actual.txt"
diff -u "$WORK/expected.txt" "$WORK/actual.txt" | head -10
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "committed output differs from coreutils"
ls "$WORK"/out | grep -q 'inprogress\|pending' && fail "uncommitted files left after the job finished"

# every retained checkpoint has one snapshot file per task (5) plus _metadata
chk=$(ls -d "$WORK"/chk/*/chk-* | sort -t- -k2 -n | head -1)
[ -d "$chk" ] || fail "no checkpoint directory under $WORK/chk"
n=$(ls "$chk" | grep -vc '_metadata')
[ "$n" -eq 5 ] || fail "$chk holds $n snapshot files, expected 5"
head -c 4 "$chk"/$(ls "$chk" | grep -v _metadata | head -1) | grep -q TECK || fail "snapshot file without the TECK magic"

# resume from the oldest retained checkpoint
(cd "$WORK/out" && md5sum part-* | sort -k2) >"$WORK/before.md5"
"$TECTL" submit --from-checkpoint "$chk" "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl2.out" 2>&1 ||
  { cat "$WORK/tectl2.out"; fail "resuming from $chk failed"; }
cat "$WORK"/out/part-*.txt.part-* | sort >"$WORK/actual2.txt"
diff -u "$WORK/expected.txt" "$WORK/actual2.txt" | head -10
cmp -s "$WORK/expected.txt" "$WORK/actual2.txt" || fail "output after the restore differs from coreutils (lost or duplicated)"
(cd "$WORK/out" && md5sum part-* | sort -k2) >"$WORK/after.md5"
kept=$(comm -12 "$WORK/before.md5" "$WORK/after.md5" | wc -l)
[ "$kept" -ge 1 ] || fail "no committed part survived the restore unchanged: the job did not resume from $chk"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the jobs"
echo "checkpointed word count and its restore match coreutils ($kept parts kept by the restore)"
