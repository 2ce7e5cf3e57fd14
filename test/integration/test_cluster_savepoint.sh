# Savepoints and upgrades by operator uid, on a tejobmanager with two TaskExecutors:
# Nexmark bids counted per auction (keyed state) are stopped with a savepoint half-way;
# a changed job (an operator added in the middle of the counting chain with a new uid,
# parallelism 2 -> 3) resumes from it; the committed outputs of both runs together are
# each auction's running counts 1..n exactly once and the counts add up to the number of
# bids (computed by Python from Nexmark's event numbering). A savepoint taken while the
# changed job runs is moved to another directory and still starts a job; a job without
# the stateful operator is refused unless allow_non_restored_state; savepoint / stop of
# an ended job answers 409. The first run keeps its state in RocksDB with incremental
# checkpoints: its savepoint must carry the shared files its snapshots refer to (the
# job's checkpoint directory, shared files and all, is deleted before the second run,
# which restores that state into the hashmap backend).
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
start_jobmanager jm
start_executor te1 jm -D taskmanager.numberOfTaskSlots=3
start_executor te2 jm -D taskmanager.numberOfTaskSlots=3
wait_until 10 registered jm 2 || fail "the TaskExecutors did not register"
export TE_JOBMANAGER=$jm_REST
COUNT=100000
# bids_job NAME OUT PARALLELISM EXTRA_OP_JSON COUNT_OP_JSON [CONFIG_JSON]
bids_job() {
  cat <<JSON
{ "name": "$1", "config": { ${6:-} }, "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "nexmark", "uid": "bids", "count": $COUNT, "rate": 5000, "events": "bids" } ] },
    { "id": "count", "parallelism": $3, "chain": [ $4 $5
        { "op": "file_sink", "uid": "sink", "path": "$2/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "count", "partitioner": "hash", "key_field": 1 } ] }
JSON
}
COUNTER='{ "op": "keyed_count", "uid": "per-auction", "key_field": 1, "emit": "updates" },'
PASS='{ "op": "filter", "uid": "only-bids", "field": 0, "cmp": "eq", "value": "B" },'
mkdir -p "$WORK/out1" "$WORK/out2" "$WORK/sp" "$WORK/moved"
bids_job v1 "$WORK/out1" 2 "" "$COUNTER" '"state.backend.type": "rocksdb", "state.backend.incremental": "true"' >"$WORK/v1.json"
job1=$("$TECTL" submit "$WORK/v1.json" --checkpoint-interval 300ms) || fail "submit v1"
wait_until 20 job_checkpointed jm "$job1" 1 || fail "v1 never ran with a checkpoint"
"$TECTL" stop "$job1" --savepoint-dir "$WORK/sp" --json >"$WORK/stop.json" || { cat "$WORK/stop.json"; fail "tectl stop"; }
sp=$(json 'd["path"]' <"$WORK/stop.json")
[ "$(json 'd["state"]' <"$WORK/stop.json")" = FINISHED ] || fail "the stopped job did not finish: $(cat "$WORK/stop.json")"
[ -f "$sp/_metadata" ] || fail "no _metadata in the savepoint $sp"
[ "$(json 'all(not h["path"].startswith("/") for v in d["vertices"] for h in v["handles"])' <"$sp/_metadata")" = True ] \
  || fail "the savepoint's _metadata names absolute snapshot paths (not movable)"
[ "$(json '"shared" not in str(d)' <"$sp/_metadata")" = True ] || fail "the savepoint's _metadata lists shared files"
ls "$sp" | grep -q '\.sst$' || fail "the savepoint of an incremental RocksDB checkpoint holds no SST file: $(ls "$sp")"
ls "$WORK/jm-ckpt/$job1/shared" | grep -q '\.sst$' || fail "v1's incremental checkpoints uploaded no shared file"
rm -rf "${WORK:?}/jm-ckpt/$job1" # the savepoint must not need the job's checkpoints
n1=$(committed_lines "$WORK/out1" | wc -l)
[ "$n1" -gt 0 ] || fail "v1 committed nothing before the stop"

# v2: an operator added before the counter (new uid), parallelism 3, from the savepoint.
bids_job v2 "$WORK/out2" 3 "$PASS" "$COUNTER" >"$WORK/v2.json"
job2=$("$TECTL" submit "$WORK/v2.json" --from-savepoint "$sp" --checkpoint-interval 300ms) || fail "submit v2"
wait_until 20 job_checkpointed jm "$job2" 1 || fail "v2 never ran: $(job_field jm "$job2" 'd["state"], d["failure_cause"]')"
"$TECTL" savepoint "$job2" "$WORK/sp" --json >"$WORK/sp2.json" || { cat "$WORK/sp2.json"; fail "tectl savepoint"; }
sp2=$(json 'd["path"]' <"$WORK/sp2.json")
wait_until 60 job_in_state jm "$job2" FINISHED FAILED CANCELED || fail "v2 did not end"
job_in_state jm "$job2" FINISHED || fail "v2 ended $(job_field jm "$job2" 'd["state"], d["failure_cause"]')"
{ committed_lines "$WORK/out1"; committed_lines "$WORK/out2"; } >"$WORK/both.txt"
python3 - "$WORK/both.txt" "$COUNT" <<'PY' || fail "the two runs together are not exactly once"
import collections, sys
counts = collections.defaultdict(list)
for line in open(sys.argv[1]):
    key, n = line.rstrip("\n").split("\t")
    counts[key].append(int(n))
for key, ns in counts.items():
    ns.sort()
    assert ns == list(range(1, len(ns) + 1)), "auction %s: counts %s... not 1..n once each" % (key, ns[:20])
bids = sum(1 for n in range(int(sys.argv[2])) if n % 50 >= 4)
total = sum(len(ns) for ns in counts.values())
assert total == bids, "%d updates for %d bids" % (total, bids)
print("%d auctions, %d bids counted exactly once across the stop" % (len(counts), bids))
PY

# Refused: the counter (uid per-auction) removed; allowed with allow_non_restored_state.
mv "$sp2" "$WORK/moved/"
moved="$WORK/moved/$(basename "$sp2")"
bids_job v3 "$WORK/out3" 2 "" "" >"$WORK/v3.json"
job3=$("$TECTL" submit "$WORK/v3.json" --from-savepoint "$moved") || fail "submit v3"
wait_until 30 job_in_state jm "$job3" FINISHED FAILED CANCELED || fail "v3 did not end"
job_in_state jm "$job3" FAILED || fail "v3 without the counter was not refused: $(job_field jm "$job3" 'd["state"]')"
job_field jm "$job3" 'd["failure_cause"]' | grep -q "per-auction.*allow_non_restored_state" \
  || fail "the refusal does not name the uid and the option: $(job_field jm "$job3" 'd["failure_cause"]')"
job4=$("$TECTL" submit "$WORK/v3.json" --from-savepoint "$moved" --allow-non-restored-state) || fail "submit v3 allowed"
wait_until 60 job_in_state jm "$job4" FINISHED FAILED CANCELED || fail "v3 (allowed) did not end"
job_in_state jm "$job4" FINISHED || fail "v3 (allowed) ended $(job_field jm "$job4" 'd["state"], d["failure_cause"]')"
# A vertex the job does not have: refused at submission (400), nothing stored.
sed 's/"id": "count"/"id": "counter"/; s/"to": "count"/"to": "counter"/' "$WORK/v1.json" >"$WORK/v5.json"
rc=0; "$TECTL" submit "$WORK/v5.json" --from-savepoint "$moved" 2>"$WORK/v5.err" || rc=$?
[ "$rc" = 1 ] && grep -q "vertex 'count'.*allow_non_restored_state" "$WORK/v5.err" || { cat "$WORK/v5.err"; fail "v5 not refused"; }

# 409 for an ended job.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"dir\": \"$WORK/sp\"}" "$jm_URL/v1/jobs/$job2/savepoints")
[ "$code" = 409 ] || fail "savepoint of a finished job: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d "{\"savepoint_dir\": \"$WORK/sp\"}" "$jm_URL/v1/jobs/$job1/stop")
[ "$code" = 409 ] || fail "stop of a finished job: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"dir": "relative"}' "$jm_URL/v1/jobs/$job2/savepoints")
[ "$code" = 400 ] || fail "savepoint with a relative dir: $code"
echo "stop-with-savepoint, upgrade by uid with rescaling, moved savepoint, refusals: as specified"
