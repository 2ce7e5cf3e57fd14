# make install with DESTDIR and PREFIX puts the programs, the configuration, the
# systemd unit and the three man pages in place; the man pages render, and
# taskexecutor.yaml(5) documents every key the parser knows (from the same table).
. "$(dirname "$0")/lib.sh"
root="$WORK/root"
make -s -C "$ROOT" BUILD="$BUILD" DESTDIR="$root" PREFIX=/usr/local install >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "make install failed"; }
for f in sbin/taskexecutord sbin/tejobmanager bin/tectl etc/taskexecutor/taskexecutor.yaml \
         etc/taskexecutor/jobmanager.yaml lib/systemd/system/taskexecutord.service lib/systemd/system/tejobmanager.service \
         share/man/man8/taskexecutord.8 share/man/man1/tectl.1 share/man/man5/taskexecutor.yaml.5; do
  [ -s "$root/usr/local/$f" ] || fail "make install did not install $f"
done
"$root/usr/local/sbin/taskexecutord" --version | grep -q taskexecutord || fail "installed daemon does not run"
if command -v man >/dev/null; then
  MANWIDTH=100 man -l "$root/usr/local/share/man/man5/taskexecutor.yaml.5" 2>/dev/null | col -b >"$WORK/yaml5.txt" || true
  [ -s "$WORK/yaml5.txt" ] || fail "taskexecutor.yaml(5) does not render"
  "$DAEMON" --print-defaults | sed -n 's/^\([a-z][A-Za-z0-9._-]*\):.*/\1/p' | while read -r key; do
    grep -qF -- "$key" "$WORK/yaml5.txt" || { echo "missing $key"; exit 1; }
  done || fail "taskexecutor.yaml(5) misses a configuration key"
else
  skip_check "man rendering" "man is not installed (scripts/install-deps.sh test)"
fi

# The connectors are a module loaded on first use (lib/operators/builtin_module.c): the
# installed programs find it under PREFIX/lib/taskexecutord. An installed JobManager
# derives the schemas of a job with an mqtt source and a postgres sink (loading the
# module) and stores it; with the module gone it refuses the job, naming the module
# and where it looked.
so="$root/usr/local/lib/taskexecutord/te_connectors.so"
[ -s "$so" ] || fail "make install did not install lib/taskexecutord/te_connectors.so"
ldd "$root/usr/local/sbin/tejobmanager" | grep -q "librdkafka\|libpq\|libmosquitto" &&
  fail "tejobmanager links a connector's client library (the module should)"
post_job() { curl -s -o "$WORK/post.out" -w '%{http_code}' -X POST --data-binary @"$ROOT/conf/jobs/sensors_to_postgres.json" "$1/v1/jobs"; }
JOBMANAGER="$root/usr/local/sbin/tejobmanager" start_jobmanager jm1
code=$(post_job "$jm1_URL")
[ "$code" = 202 ] || fail "the installed JobManager refused a connector job ($code): $(cat "$WORK/post.out")"
mv "$so" "$so.away"
JOBMANAGER="$root/usr/local/sbin/tejobmanager" start_jobmanager jm2
code=$(post_job "$jm2_URL")
[ "$code" = 400 ] && grep -q "operator 'mqtt' (source) is not available: module te_connectors.so could not be loaded" "$WORK/post.out" &&
  grep -qF "/usr/local/sbin/../lib/taskexecutord/te_connectors.so" "$WORK/post.out" ||
  fail "without its module a connector job gave $code: $(cat "$WORK/post.out")"
