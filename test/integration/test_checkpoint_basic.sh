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
random_words_file "$WORK/in.txt" 7
wordcount_job checkpoint-basic "$WORK/in.txt" 1 2 2 '"execution.buffer-timeout": "10ms"' >"$WORK/job.json"
word_count_oracle "$WORK/in.txt" >"$WORK/expected.txt"
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
