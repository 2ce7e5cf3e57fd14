#!/usr/bin/env bash
# make test-install: every package set of scripts/packages.txt (or the sets named as
# arguments), each installed by scripts/install-deps.sh into its own fresh Debian 12
# minbase chroot, as a user with sudo, on a terminal that never answers. A set fails
# when the install
#   - asks anything (it then hangs until TE_INSTALL_TIMEOUT, default 1200 s),
#   - exits non-zero, or leaves a package of the set missing (--missing afterwards),
#   - leaves a service or socket enabled, or a process running in the chroot,
#   - leaves its policy-rc.d behind, or prints more than one line per step.
# Ends with "install: N passed, N failed".
. "$(dirname "$0")/chroot.sh"
TIMEOUT=${TE_INSTALL_TIMEOUT:-1200}
if [ $# -gt 0 ]; then sets=("$@"); else
  mapfile -t sets < <(awk 'sub(/#.*/, "") >= 0 && NF >= 2 && !seen[$1]++ { print $1 }' "$ROOT/scripts/packages.txt")
fi
chroot_base
pass=0 failn=0
for set in "${sets[@]}"; do
  r="$IDIR/root-$set"
  chroot_new "$r"
  mkdir -p "$r/home/newcomer/te/scripts"
  cp "$ROOT/scripts/install-deps.sh" "$ROOT/scripts/packages.txt" "$r/home/newcomer/te/scripts/"
  chroot "$r" chown -R newcomer:newcomer /home/newcomer/te
  links=$(find "$r/etc/systemd/system" -type l | sort)
  out="$IDIR/$set.out"
  t0=$SECONDS rc=0
  chroot_user "$r" "$TIMEOUT" "cd te && bash scripts/install-deps.sh $set" >"$out" 2>&1 || rc=$?
  took=$((SECONDS - t0))
  problems=()
  if [ "$rc" = 124 ]; then problems+=("no end in ${TIMEOUT}s: it waits for an answer on the terminal")
  elif [ "$rc" != 0 ]; then problems+=("install-deps.sh $set exited $rc"); fi
  if [ "$rc" != 124 ]; then
    left=$(chroot_user "$r" 120 "cd te && bash scripts/install-deps.sh --missing $set" 2>&1 | tr -d '\r' | xargs) || true
    [ -z "$left" ] || problems+=("still missing afterwards: $left")
  fi
  enabled=$(comm -13 <(echo "$links") <(find "$r/etc/systemd/system" -type l | sort) |
    grep -E '\.wants/.*\.(service|socket)$' | sed "s#^$r##" | xargs) || true
  [ -z "$enabled" ] || problems+=("enabled: $enabled")
  procs=$(chroot_procs "$r" | xargs)
  [ -z "$procs" ] || problems+=("left running: $procs")
  [ ! -e "$r/usr/sbin/policy-rc.d" ] || problems+=("left /usr/sbin/policy-rc.d behind")
  lines=$(tr -d '\r' <"$out" | grep -c .) || true
  [ "$lines" -le 6 ] || problems+=("printed $lines lines (apt's output belongs in the log)")
  installed=$(tr -d '\r' <"$out" | sed -n 's/^install-deps: installed \([0-9]*\) package.*/\1/p')
  if [ "${#problems[@]}" -eq 0 ]; then
    printf 'PASS %-10s %4ss  %s packages\n' "$set" "$took" "${installed:-0}"
    pass=$((pass + 1))
  else
    printf 'FAIL %-10s %4ss\n' "$set" "$took"
    printf '    %s\n' "${problems[@]}"
    tr -d '\r' <"$out" | tail -n 25 | sed 's/^/    | /'
    [ ! -f "$r/home/newcomer/te/build/install-deps.log" ] ||
      tail -n 15 "$r/home/newcomer/te/build/install-deps.log" | sed 's/^/    log| /'
    failn=$((failn + 1))
  fi
  chroot_free "$r"
done
echo "install: $pass passed, $failn failed"
[ "$failn" -eq 0 ]
