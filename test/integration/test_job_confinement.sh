# A job can never install code or touch the daemon's own files (issue 19, item 5).
# Before the fix, with io.allowed-dirs empty (the default), a job could file_sink a
# shared object into plugins.dir and the next job would dlopen it: native code run as
# the daemon's user. Now:
#   1. the two-job sequence is refused: the file_sink into plugins.dir fails at deploy
#      with a message naming the rule, so the second job finds no library - also when
#      io.allowed-dirs includes plugins.dir's parent, through a symlink, and for a
#      checkpoint directory inside plugins.dir;
#   2. a job may not read or write the token file, the --config file or the connectors
#      module either;
#   3. a library writable by its group, one in a directory writable by others, and (as
#      root) one owned by another user are refused with the rule; a plugin that only the
#      daemon's user can change still loads and runs.
. "$(dirname "$0")/lib.sh"
P="$WORK/plugins"
mkdir -p "$P" "$WORK/out"
chmod 755 "$P"
cp "$BUILD/plugins/example_reverse.so" "$P/"
head -c 48 /dev/urandom | base64 -w0 >"$WORK/token"
chmod 600 "$WORK/token"
printf 'taskmanager.numberOfTaskSlots: 2\n' >"$WORK/te.yaml"
start_daemon tm --config "$WORK/te.yaml" -D plugins.dir="$P" -D security.auth.token-file="$WORK/token"
start_daemon wide -D plugins.dir="$P" -D io.allowed-dirs="$WORK"
T=(--token-file "$WORK/token")

sink_job() { # sink_job PATH [CONFIG_ENTRIES]
  cat <<JSON
{ "name": "writer", "config": { ${2:-} }, "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "10" } ] },
    { "id": "out", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$1" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "forward" } ] }
JSON
}
plugin_job() { # plugin_job LIBRARY
  cat <<JSON
{ "name": "loader", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "sequence", "from": "1", "to": "100" } ] },
    { "id": "rev", "parallelism": 1, "chain": [ { "op": "plugin", "library": "$1" },
                                                { "op": "file_sink", "path": "$WORK/out/rev.txt" } ] } ],
  "edges": [ { "from": "src", "to": "rev", "partitioner": "forward" } ] }
JSON
}
refused() { # refused RPC JOBFILE PATTERN WHAT [tectl args]
  local rpc=$1 job=$2 pattern=$3 what=$4; shift 4
  if "$TECTL" submit "$job" --executor "$rpc" "$@" >"$WORK/r.out" 2>&1; then cat "$WORK/r.out"; fail "$what was accepted"; fi
  grep -q -- "$pattern" "$WORK/r.out" || { cat "$WORK/r.out"; fail "$what: the refusal does not say: $pattern"; }
  echo "refused $what: $(grep -o -e "'[^']*' is .*" -e "refusing to load .*" -e "not found in .*" "$WORK/r.out" | head -1)"
}
RULE="a job may never read or write the daemon's own files"

# 1. file_sink a shared object into plugins.dir, then load it
sink_job "$P/evil.so" >"$WORK/j1.json"
refused "$tm_RPC" "$WORK/j1.json" "is inside plugins.dir ($P): $RULE" "file_sink into plugins.dir" "${T[@]}"
[ ! -e "$P/evil.so" ] || fail "the shared object was written"
plugin_job evil.so >"$WORK/j2.json"
refused "$tm_RPC" "$WORK/j2.json" "not found in plugins.dir" "loading the planted library" "${T[@]}"
refused "$wide_RPC" "$WORK/j1.json" "is inside plugins.dir" "file_sink into plugins.dir with io.allowed-dirs=$WORK"
ln -s "$P" "$WORK/link"
sink_job "$WORK/link/evil.so" >"$WORK/j3.json"
refused "$wide_RPC" "$WORK/j3.json" "is inside plugins.dir" "file_sink through a symlink into plugins.dir"
sink_job "$WORK/out/x.txt" >"$WORK/j4.json"
refused "$wide_RPC" "$WORK/j4.json" "is inside plugins.dir" "a checkpoint directory inside plugins.dir" \
  --checkpoint-interval 100ms --checkpoint-dir "$P/chk"
[ ! -e "$P/chk" ] || fail "a checkpoint directory was created inside plugins.dir"

# 2. the daemon's token and configuration files
cat >"$WORK/j5.json" <<JSON
{ "name": "reader", "vertices": [
    { "id": "src", "parallelism": 1, "chain": [ { "op": "file_lines", "path": "$WORK/token" } ] },
    { "id": "out", "parallelism": 1, "chain": [ { "op": "file_sink", "path": "$WORK/out/stolen.txt" } ] } ],
  "edges": [ { "from": "src", "to": "out", "partitioner": "forward" } ] }
JSON
refused "$tm_RPC" "$WORK/j5.json" "is the daemon's security.auth.token-file" "reading the token file" "${T[@]}"
sink_job "$WORK/te.yaml" >"$WORK/j6.json"
refused "$tm_RPC" "$WORK/j6.json" "is the daemon's configuration file" "overwriting the configuration file" "${T[@]}"
grep -q 'numberOfTaskSlots: 2' "$WORK/te.yaml" || fail "the configuration file was changed"
# the connectors module the daemon loads on first use (beside the daemon)
mod=$(cd "$(dirname "$DAEMON")" && pwd)/te_connectors.so
sum=$(sha256sum <"$mod")
sink_job "$mod" >"$WORK/j6m.json"
refused "$tm_RPC" "$WORK/j6m.json" "is the daemon's connectors module" "overwriting the connectors module" "${T[@]}"
[ "$(sha256sum <"$mod")" = "$sum" ] || fail "the connectors module was changed"

# 3. libraries others can change
cp "$BUILD/plugins/example_reverse.so" "$P/group_w.so"; chmod 664 "$P/group_w.so"
plugin_job group_w.so >"$WORK/j7.json"
refused "$tm_RPC" "$WORK/j7.json" "writable by its group (mode 0664)" "a group-writable library" "${T[@]}"
mkdir -p "$P/shared"; chmod 777 "$P/shared"; cp "$BUILD/plugins/example_reverse.so" "$P/shared/lib.so"; chmod 755 "$P/shared/lib.so"
plugin_job shared/lib.so >"$WORK/j8.json"
refused "$tm_RPC" "$WORK/j8.json" "is writable by others (mode 0777)" "a library in a world-writable directory" "${T[@]}"
if [ "$(id -u)" = 0 ]; then
  cp "$BUILD/plugins/example_reverse.so" "$P/foreign.so"; chown 65534 "$P/foreign.so"
  plugin_job foreign.so >"$WORK/j9.json"
  refused "$tm_RPC" "$WORK/j9.json" "owned by uid 65534" "a library owned by another user" "${T[@]}"
else
  skip_check "foreign owner" "needs root to chown a library"
fi
plugin_job example_reverse.so >"$WORK/ok.json"
"$TECTL" submit "$WORK/ok.json" --executor "$tm_RPC" "${T[@]}" >"$WORK/ok.out" 2>&1 || { cat "$WORK/ok.out"; fail "the safe plugin was refused"; }
python3 -c 'print("\n".join(sorted(str(i)[::-1] for i in range(1, 101))))' >"$WORK/expected.txt"
sort "$WORK/out/rev.txt" | cmp -s - "$WORK/expected.txt" || fail "the safe plugin's output differs from Python's"
wait_until 10 daemon_idle "$tm_STATUS" || fail "slots not free after the refusals"
