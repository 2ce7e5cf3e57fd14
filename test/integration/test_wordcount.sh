# Word count of a real text at parallelism 2 with hash partitioning through one real
# daemon; the counts must equal what coreutils computes with the tokenizer's rule
# (a word = a maximal run of ASCII letters, lower-cased).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
INPUT=/usr/share/common-licenses/GPL-3
[ -r "$INPUT" ] || INPUT=$(ls /usr/share/common-licenses/* | head -1)
start_daemon tm -D taskmanager.numberOfTaskSlots=4

mkdir -p "$WORK/out"
wordcount_job wordcount-test "$INPUT" 2 2 2  >"$WORK/job.json"
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/tectl.out" 2>&1 || { cat "$WORK/tectl.out"; fail "tectl submit failed"; }
grep -q FINISHED "$WORK/tectl.out" || fail "tectl did not report FINISHED"

word_count_oracle "$INPUT" >"$WORK/expected.txt"
cat "$WORK"/out/part-*.txt | sort >"$WORK/actual.txt"
[ -s "$WORK/expected.txt" ] || fail "oracle produced nothing"
diff -u "$WORK/expected.txt" "$WORK/actual.txt" | head -20
cmp -s "$WORK/expected.txt" "$WORK/actual.txt" || fail "word counts differ from coreutils"
# Each key lives in exactly one subtask (hash partitioning).
[ "$(cut -f1 "$WORK"/out/part-*.txt | sort | uniq -d | wc -l)" -eq 0 ] || fail "a key appears in both subtasks"
[ -s "$WORK/out/part-0.txt" ] && [ -s "$WORK/out/part-1.txt" ] || fail "hash partitioning left a subtask empty"

# The status endpoint saw the job: finished tasks with record counts.
http_get "$tm_STATUS/v1/tasks"; body=$HTTP_BODY
[ "$HTTP_CODE" = 200 ] || fail "GET /v1/tasks -> $HTTP_CODE"
words_in=$(json 'sum(t["metrics"]["numRecordsIn"] for t in d["tasks"]+d["finished_history"] if t["name"].startswith("count"))' <<<"$body")
expected_words=$(tr -cs 'A-Za-z' '\n' <"$INPUT" | grep -vc '^$')
[ "$words_in" = "$expected_words" ] || fail "count tasks received $words_in records, coreutils counts $expected_words words"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots or segments not released after the job"
echo "word count matches coreutils ($(wc -l <"$WORK/expected.txt") distinct words, $expected_words words)"
