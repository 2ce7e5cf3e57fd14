# User operators from shared objects: a plugin under plugins.dir is loaded and runs end
# to end (output checked against Python); a path outside plugins.dir (absolute, '..',
# or a symlink leading out), a missing file, a missing entry symbol and an ABI
# mismatch are each refused with a message naming the problem; the daemon serves on.
. "$(dirname "$0")/lib.sh"
mkdir -p "$WORK/plugins"
cp "$BUILD/plugins/example_reverse.so" "$BUILD/plugins/bad_abi.so" "$BUILD/plugins/no_entry.so" "$WORK/plugins/"
ln -s "$BUILD/plugins/example_reverse.so" "$WORK/plugins/escape.so"
start_daemon tm -D plugins.dir="$WORK/plugins"

job() { # job LIBRARY OUT
  cat <<JSON
{ "name": "plugin", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "5000" } ] },
    { "id": "rev", "parallelism": 2, "chain": [ { "op": "plugin", "library": "$1", "prefix": "r:" },
                                                { "op": "file_sink", "path": "$2-{subtask}.txt" } ] } ],
  "edges": [ { "from": "src", "to": "rev", "partitioner": "rebalance" } ] }
JSON
}
job example_reverse.so "$WORK/out" >"$WORK/good.json"
"$TECTL" submit "$WORK/good.json" --executor "$tm_RPC" >"$WORK/good.out" 2>&1 || { cat "$WORK/good.out"; fail "plugin job failed"; }
python3 -c 'print("\n".join(sorted("r:" + str(i)[::-1] for i in range(1, 5001))))' >"$WORK/expected.txt"
cat "$WORK"/out-*.txt | sort | cmp - "$WORK/expected.txt" || fail "plugin output differs from Python's"

refused() { # refused LIBRARY PATTERN
  job "$1" "$WORK/x" >"$WORK/bad.json"
  if "$TECTL" submit "$WORK/bad.json" --executor "$tm_RPC" >"$WORK/bad.out" 2>&1; then fail "library '$1' was accepted"; fi
  grep -q -- "$2" "$WORK/bad.out" || { cat "$WORK/bad.out"; fail "refusal of '$1' does not say: $2"; }
  echo "refused $1: $(grep -o "operator 'plugin'.*" "$WORK/bad.out" | head -1)"
}
refused "$BUILD/plugins/example_reverse.so" "not inside plugins.dir"
refused "../plugins/example_reverse.so" "not inside plugins.dir"
refused "escape.so" "outside plugins.dir"
refused "missing.so" "not found"
refused "no_entry.so" "does not export te_operator_plugin_entry"
refused "bad_abi.so" "ABI version 999"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not free after the refusals"
kill -0 "$tm_PID" || fail "daemon died"
