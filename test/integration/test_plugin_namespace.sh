# A plugin's own global names stay its own: the daemon exports no engine symbol (it is
# not linked -rdynamic; plugins reach the engine only through te_operator_api_t), so a
# plugin defining task_name, buffer_new and config_get_int calls its own functions.
# Oracles: nm (binutils) for the export table, Python for the expected records.
. "$(dirname "$0")/lib.sh"
command -v nm >/dev/null || fail "nm (binutils) is needed"
exported=$(nm -D --defined-only "$DAEMON" | awk '{print $3}' | grep -E '^(task_|buffer_|config_|te_|rpc_|slot_table_|stream_task_|input_gate_|event_)' || true)
[ -z "$exported" ] || fail "the daemon exports engine symbols: $(echo $exported | head -c 300)"

mkdir -p "$WORK/plugins"
cp "$BUILD/plugins/own_names.so" "$WORK/plugins/"
start_daemon tm -D plugins.dir="$WORK/plugins"
cat >"$WORK/job.json" <<JSON
{ "name": "own-names", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "300" } ] },
    { "id": "own", "parallelism": 1, "chain": [ { "op": "plugin", "library": "own_names.so" },
                                                { "op": "file_sink", "path": "$WORK/out-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "own", "partitioner": "forward" } ] }
JSON
"$TECTL" submit "$WORK/job.json" --executor "$tm_RPC" >"$WORK/submit.out" 2>&1 || { cat "$WORK/submit.out"; fail "the job failed"; }
python3 -c 'print("\n".join(sorted("own-task-name|%d|4242|%d" % (len(str(i)) * 1000 + 7, i) for i in range(1, 301))))' >"$WORK/expected.txt"
sort "$WORK"/out-*.txt | cmp - "$WORK/expected.txt" || { head -3 "$WORK"/out-*.txt; fail "the plugin did not get its own functions"; }
kill -0 "$tm_PID" || fail "daemon died"
echo "plugin namespace: own task_name/buffer_new/config_get_int used; no engine symbol exported"
