#!/usr/bin/env bash
# The README on a fresh Debian 12 — a debootstrap minbase with only git and sudo — as
# the user `newcomer` with sudo, on a terminal that never answers: clone this
# repository (its committed HEAD), run the README's prerequisite line, then `make demo`
# (and `make test` too with TE_FRESH_TEST=1). Fails on a question (timeout), a failed
# step or a demo whose counts differ from coreutils; prints how long each step took,
# apt included. TE_APT_CACHE=0 downloads every package from the archive (what a new
# machine does); the default reuses build/install-test/apt-archives.
#   bash test/install/fresh_demo.sh        (root or sudo; about 10 minutes)
. "$(dirname "$0")/chroot.sh"
TIMEOUT=${TE_INSTALL_TIMEOUT:-3600}
# The first line of the README's first code block is the prerequisite line.
prereq=$(awk '/^```sh/ { inblock = 1; next } inblock { sub(/ *#.*/, ""); print; exit }' "$ROOT/README.md")
[[ "$prereq" == *"apt-get install"* ]] || fail "the README does not start with the prerequisite line (found: $prereq)"
chroot_base
r="$IDIR/root-fresh"
chroot_new "$r"
git clone -q --no-local "$ROOT" "$r/home/newcomer/taskexecutord"
chroot "$r" chown -R newcomer:newcomer /home/newcomer/taskexecutord
steps="cd taskexecutord && t0=\$(date +%s) && { $prereq; } && t1=\$(date +%s) && make demo && t2=\$(date +%s) &&
  echo \"TIMES prerequisite=\$((t1 - t0))s demo=\$((t2 - t1))s\""
[ "${TE_FRESH_TEST:-0}" = 0 ] || steps="$steps && t3=\$(date +%s) && make test && echo \"TIMES test=\$((\$(date +%s) - t3))s\""
what="make demo"; [ "${TE_FRESH_TEST:-0}" = 0 ] || what="make demo; make test"
log "as newcomer: $prereq; $what (output: $IDIR/fresh.out)"
rc=0
chroot_user "$r" "$TIMEOUT" "$steps" >"$IDIR/fresh.out" 2>&1 || rc=$?
tr -d '\r' <"$IDIR/fresh.out" | grep -E '^(install-deps|== RESULT|TIMES|integration:|unit:|SKIP|FAIL)' | sed 's/^/  /'
[ "$rc" != 124 ] || fail "no end in ${TIMEOUT}s: something waits for an answer (tail of $IDIR/fresh.out: $(tr -d '\r' <"$IDIR/fresh.out" | tail -n 5))"
[ "$rc" = 0 ] || { tr -d '\r' <"$IDIR/fresh.out" | tail -n 30; fail "exit $rc"; }
grep -q '== RESULT: .* counts equal coreutils' "$IDIR/fresh.out" || fail "the demo did not show a result equal to coreutils"
echo "fresh machine: PASS"
