# The rocksdb state backend with incremental checkpoints, end to end on two daemons: a
# keyed count (sequence 1..N rate-limited, keyed by round(n / 64), keyed_count
# emit=updates → file_sink) with "state.backend.type": "rocksdb" and
# "state.backend.incremental": "true" in the job's config, a checkpoint every 200 ms.
#  1. Parallelism 2 until a retained checkpoint refers to shared files that a pruned
#     checkpoint uploaded (RocksDB compacts, so that depends on timing: after every
#     completed checkpoint from the 6th on, tectl is stopped with SIGSTOP and the
#     checkpoint directory examined), then tectl and both daemons are kill -9'ed. Every
#     shared file a retained checkpoint refers to exists.
#  2. Resumed from that checkpoint ("restore after pruning") at parallelism 3 (2 → 3,
#     key groups redistributed from RocksDB checkpoints) on fresh daemons until 4 more
#     checkpoints completed, killed again. This run's config sets
#     "state.backend.rocksdb.compaction.style": "level" (the others run the default,
#     universal): every RocksDB OPTIONS file under its daemons' local state says so, and
#     the restores go from one style's checkpoint to the other's instance and back.
#  3. Resumed at parallelism 2 (3 → 2), to the end. The committed updates must be exactly
#     1..c per key (nothing lost, nothing twice) and the final counts equal seq + awk.
#     The shared files uploaded by completed checkpoints that are no longer retained are
#     gone unless a retained checkpoint refers to them (the registry's reference counts;
#     uploads of checkpoints cut short by the kills are not counted).
#  4. A corrupt shared file, then a missing one: resuming fails with a cause naming the
#     file. A job with an unknown compaction style is rejected naming the key.
# Each daemon's RocksDB instances live under its taskmanager.state.local.dir, deleted as
# their tasks end.
. "$(dirname "$0")/lib.sh"
export LC_ALL=C
N=150000
RATE=12000 # about 12 s at full length
STATE='"state.backend.type": "rocksdb", "state.backend.incremental": "true"'
daemons() { # SUFFIX
  start_daemon "a$1" -D taskmanager.numberOfTaskSlots=3 -D taskmanager.state.local.dir="$WORK/local-a$1"
  start_daemon "b$1" -D taskmanager.numberOfTaskSlots=3 -D taskmanager.state.local.dir="$WORK/local-b$1"
}
mkdir -p "$WORK/out"
job() { # COUNT_PARALLELISM [MORE_CONFIG]
  cat <<JSON
{ "name": "rocksdb-incremental", "config": { "execution.buffer-timeout": "5ms", $STATE${2:+, $2} },
  "vertices": [
    { "id": "src", "parallelism": 2, "chain": [ { "op": "sequence", "from": 1, "to": $N, "rate": $RATE },
                                                { "op": "scale", "field": 0, "factor": 0.015625 } ] },
    { "id": "count", "parallelism": $1, "chain": [ { "op": "keyed_count", "emit": "updates" },
                                                  { "op": "file_sink", "path": "$WORK/out/part-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "count", "partitioner": "hash", "key_field": 0 } ] }
JSON
}
job 2 >"$WORK/job2.json"
job 3 '"state.backend.rocksdb.compaction.style": "level"' >"$WORK/job3.json"
completed_at_least() { # FILE N: at least N checkpoints completed according to FILE
  [ "$(grep -c 'checkpoint [0-9]* completed' "$1")" -ge "$2" ]
}
kill_all() { # TECTL_PID DAEMON_PIDS...
  kill -9 "$@"
  wait "$@" 2>/dev/null
}

# 1. parallelism 2, until a retained checkpoint needs files of a pruned one
cat >"$WORK/pruned.py" <<'PY'
# pruned.py JOB_DIR TECTL_OUTPUTS...: checks that every shared file a retained
# checkpoint refers to exists; prints the newest retained checkpoint that refers to a
# file uploaded by a completed checkpoint that is no longer retained (nothing if none).
import json, os, re, sys
job = sys.argv[1]
completed = set(int(m) for f in sys.argv[2:] for m in re.findall(r'checkpoint (\d+) completed', open(f).read()))
retained = sorted(int(d[4:]) for d in os.listdir(job) if d.startswith('chk-') and os.path.exists(f'{job}/{d}/_metadata'))
refs = {}
for c in retained:
    md = json.load(open(f'{job}/chk-{c}/_metadata'))
    refs[c] = {f['path'] for v in md['vertices'] for h in v['handles'] for f in h.get('shared', [])}
    assert refs[c], f'checkpoint {c} refers to no shared file: not incremental'
    for p in refs[c]:
        assert os.path.exists(p), f'{p}, referred to by retained checkpoint {c}, is missing'
pruned = completed - set(retained)
def uploader(p):
    return int(re.search(r'-(\d+)-\d+\.sst$', p).group(1))
for c in reversed(retained):
    if any(uploader(p) in pruned for p in refs[c]):
        print(c)
        break
PY
daemons 1
"$TECTL" submit "$WORK/job2.json" --executor "$a1_RPC" --executor "$b1_RPC" --checkpoint-interval 200ms \
  --checkpoint-dir "$WORK/ck" >"$WORK/tectl1.out" 2>&1 &
T=$!
wait_until 60 grep -q 'checkpoint 6 completed' "$WORK/tectl1.out" || { cat "$WORK/tectl1.out"; fail "checkpoint 6 never completed"; }
JOB=$(sed -n 's/^job \([0-9a-f]\{32\}\) .*/\1/p' "$WORK/tectl1.out" | head -1)
[ -n "$JOB" ] || fail "no job id in the first run's output"
from=""
for i in $(seq 1 40); do
  kill -STOP "$T"
  from=$(python3 "$WORK/pruned.py" "$WORK/ck/$JOB" "$WORK/tectl1.out") || { kill -9 "$T"; fail "shared files of the retained checkpoints"; }
  [ -n "$from" ] && break
  kill -CONT "$T"
  n=$(grep -c 'checkpoint [0-9]* completed' "$WORK/tectl1.out")
  wait_until 20 completed_at_least "$WORK/tectl1.out" $((n + 1)) || break
done
kill_all "$T" "$a1_PID" "$b1_PID"
[ -n "$from" ] || { grep completed "$WORK/tectl1.out" | tail -3; fail "no retained checkpoint ever referred to a file of a pruned one"; }
grep -q ' FINISHED' "$WORK/tectl1.out" && fail "the first run finished before it was stopped (make N larger)"
echo "restoring checkpoint $from: it refers to shared files uploaded by checkpoints pruned since"

# 2. parallelism 3 (2 -> 3), killed again after 4 more checkpoints
daemons 2
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB/chk-$from" "$WORK/job3.json" --executor "$a2_RPC" \
  --executor "$b2_RPC" --checkpoint-interval 200ms >"$WORK/tectl2.out" 2>&1 &
T=$!
wait_until 20 grep -q "resuming job $JOB from checkpoint $from " "$WORK/tectl2.out" || { cat "$WORK/tectl2.out"; fail "the second run did not resume from checkpoint $from"; }
wait_until 60 completed_at_least "$WORK/tectl2.out" 4 || { cat "$WORK/tectl2.out"; fail "the run at parallelism 3 completed no 4 checkpoints"; }
grep -q 'count (3/3)' "$WORK/tectl2.out" || fail "the counting vertex did not run at parallelism 3"
# the newest OPTIONS file of each task's database is what it runs with (a restored one
# also holds the file its checkpoint brought)
opts=$(find "$WORK/local-a2" "$WORK/local-b2" -path '*/db/OPTIONS-*' 2>/dev/null | sort | awk -F/ '
  { d = $0; sub("/[^/]*$", "", d); last[d] = $0 } END { for (d in last) print last[d] }')
[ "$(echo "$opts" | grep -c .)" = 3 ] || fail "not 3 RocksDB databases under the local state of the run at parallelism 3: $opts"
other=$(grep -L 'compaction_style=kCompactionStyleLevel' $opts 2>&1)
[ -z "$other" ] || fail "a task of the job with compaction style level runs otherwise: $other"
kill_all "$T" "$a2_PID" "$b2_PID"
grep -q ' FINISHED' "$WORK/tectl2.out" && fail "the second run finished before it was stopped"

# 3. parallelism 2 (3 -> 2), to the end
daemons 3
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB" "$WORK/job2.json" --executor "$a3_RPC" --executor "$b3_RPC" \
  --checkpoint-interval 200ms --timeout 90s >"$WORK/tectl3.out" 2>&1 || { tail -20 "$WORK/tectl3.out"; fail "the third run failed"; }
seq 1 $N | awk '{ k = int(($1 + 32) / 64); c[k]++; print k "\t" c[k] }' | sort >"$WORK/expected.txt"
cat "$WORK"/out/part-[0-9].txt "$WORK"/out/part-[0-9].txt.part-[0-9]* 2>/dev/null | sort >"$WORK/actual.txt"
awk -F'\t' '{ if ($2 > m[$1]) m[$1] = $2 } END { for (k in m) print k "\t" m[k] }' "$WORK/expected.txt" | sort >"$WORK/expected_final.txt"
awk -F'\t' '{ if ($2 + 0 > m[$1] + 0) m[$1] = $2 } END { for (k in m) print k "\t" m[k] }' "$WORK/actual.txt" | sort >"$WORK/actual_final.txt"
cmp -s "$WORK/expected_final.txt" "$WORK/actual_final.txt" || { diff "$WORK/expected_final.txt" "$WORK/actual_final.txt" | head; fail "final counts differ from the oracle"; }
if ! cmp -s "$WORK/expected.txt" "$WORK/actual.txt"; then
  echo "lost: $(comm -23 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l), duplicated: $(comm -13 "$WORK/expected.txt" "$WORK/actual.txt" | wc -l)"
  fail "the committed updates are not exactly once after restores 2 -> 3 -> 2"
fi
python3 - "$WORK/ck/$JOB" "$WORK"/tectl[123].out <<'PY' || fail "shared files after the last run"
import json, os, re, sys
job = sys.argv[1]
completed = set(int(m) for f in sys.argv[2:] for m in re.findall(r'checkpoint (\d+) completed', open(f).read()))
retained = [int(d[4:]) for d in os.listdir(job) if d.startswith('chk-') and os.path.exists(f'{job}/{d}/_metadata')]
alive = set()
for c in retained:
    md = json.load(open(f'{job}/chk-{c}/_metadata'))
    alive |= {f['path'] for v in md['vertices'] for h in v['handles'] for f in h.get('shared', [])}
unfinished = 0
for n in os.listdir(f'{job}/shared'):
    p = f'{job}/shared/{n}'
    m = re.search(r'-(\d+)-\d+\.sst(\.tmp)?$', n)
    assert m, f'{n}: not a shared file name (<vertex>-<subtask>-<uid>-<checkpoint>-<sst>)'
    if m.group(2): # an upload the kill -9 of run 1 or 2 cut short: renamed only when complete
        assert p[:-4] not in alive, f'{n}: unfinished, yet a retained checkpoint refers to {n[:-4]}'
        unfinished += 1
        continue
    up = int(m.group(1))
    assert p in alive or up not in completed or up in retained, \
        f'{n}: uploaded by checkpoint {up}, which completed and was pruned, and no retained checkpoint refers to it'
print(f'{len(os.listdir(job + "/shared"))} shared files ({unfinished} unfinished uploads of killed runs), '
      f'{len(alive)} referred to by retained checkpoints {sorted(retained)}')
PY
wait_until 10 daemon_idle "$a3_STATUS" || fail "daemon a3 not idle after the job"
for d in a3 b3; do
  left=$(find "$WORK/local-$d" -type f 2>/dev/null | head -3)
  [ -z "$left" ] || fail "the tasks' RocksDB files were not deleted when they ended: $left"
  [ -n "$(ls "$WORK/local-$d")" ] || fail "daemon $d kept no local state directory (te-<resource id>)"
done

# 4. a corrupt shared file, then a missing one
latest=$(ls -d "$WORK/ck/$JOB"/chk-* | sed 's/.*chk-//' | sort -n | tail -1)
victim=$(python3 -c "import json,sys; md=json.load(open(sys.argv[1])); print(sorted(f['path'] for v in md['vertices'] for h in v['handles'] for f in h.get('shared', []))[0])" "$WORK/ck/$JOB/chk-$latest/_metadata")
[ -f "$victim" ] || fail "no shared file to corrupt"
cp "$victim" "$WORK/victim.bak"
printf '\x00\x01\x02\x03' | dd of="$victim" bs=1 seek=200 conv=notrunc status=none
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB/chk-$latest" --executor "$a3_RPC" --executor "$b3_RPC" \
  --timeout 30s >"$WORK/tectl4.out" 2>&1 && fail "a restore from a corrupt shared file succeeded"
grep -q "checkpoint file '$victim' is corrupt" "$WORK/tectl4.out" || { tail "$WORK/tectl4.out"; fail "the failure does not name the corrupt file"; }
rm -f "$victim"
"$TECTL" submit --from-checkpoint "$WORK/ck/$JOB/chk-$latest" --executor "$a3_RPC" --executor "$b3_RPC" \
  --timeout 30s >"$WORK/tectl5.out" 2>&1 && fail "a restore with a missing shared file succeeded"
grep -q "checkpoint file '$victim' is missing" "$WORK/tectl5.out" || { tail "$WORK/tectl5.out"; fail "the failure does not name the missing file"; }
sed 's/"level"/"fifo"/' "$WORK/job3.json" >"$WORK/job-fifo.json"
"$TECTL" submit "$WORK/job-fifo.json" --executor "$a3_RPC" --executor "$b3_RPC" --timeout 30s >"$WORK/tectl6.out" 2>&1 &&
  fail "a job with compaction style fifo ran"
grep -q "state.backend.rocksdb.compaction.style.*unknown RocksDB compaction style 'fifo'" "$WORK/tectl6.out" ||
  { tail "$WORK/tectl6.out"; fail "the rejection does not name the key and the style"; }
echo "rocksdb + incremental: restores 2 -> 3 -> 2 after pruning exactly once ($(wc -l <"$WORK/expected_final.txt") keys); corrupt and missing shared files named; universal -> level -> universal"
