#!/usr/bin/env bash
# Installs the Debian 12 packages of the named dependency sets (scripts/packages.txt).
#
#   scripts/install-deps.sh [SET...]          install what is missing (no SET: every set)
#   scripts/install-deps.sh --list SET...     print the packages of the sets
#   scripts/install-deps.sh --missing SET...  print the missing ones; exit 1 if any
#
# Idempotent and silent when nothing is missing (make runs it before every goal).
# Otherwise one line per step; apt's own output goes to build/install-deps.log
# (TE_DEPS_LOG), and its last lines are printed when a step fails.
# Never asks a question and never starts or enables a service: apt runs as
# `sudo env DEBIAN_FRONTEND=noninteractive ...` (sudo drops the variable otherwise),
# keeps existing configuration files, a policy-rc.d forbids starting services while it
# runs, and every systemd unit that a package installed by this run enabled is
# disabled again (a test server such as iperf3, postgresql or etcd is started by the
# test that needs it, on loopback, and nowhere else).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TABLE="$ROOT/scripts/packages.txt"
LOG=${TE_DEPS_LOG:-$ROOT/build/install-deps.log}
say() { echo "install-deps: $*"; }

# packages_of SET...: the packages of the sets, each once, in table order.
packages_of() {
  awk -v sets=" $* " 'sub(/#.*/, "") >= 0 && NF >= 2 && (sets == "  " || index(sets, " " $1 " ")) && !seen[$2]++ { print $2 }' "$TABLE"
}

# Every named set must exist in the table (a typo must not install nothing silently).
check_sets() {
  awk -v want="$*" 'sub(/#.*/, "") >= 0 && NF >= 2 && !seen[$1]++ { have[$1] = 1; all = all " " $1 }
    END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in have)) {
            printf "install-deps: unknown set \x27%s\x27 (sets:%s)\n", w[i], all > "/dev/stderr"; bad = 1 }
          exit bad }' "$TABLE" || exit 2
}

# missing_of PKG...: those not installed (one dpkg-query for all of them).
missing_of() {
  { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null || true; } |
    awk -v want="$*" '$1 == "ii" { ok[$2] = 1 } END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in ok)) print w[i] }'
}

mode=install
case "${1:-}" in
--list) mode=list; shift ;;
--missing) mode=missing; shift ;;
-h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
check_sets "$@"
mapfile -t pkgs < <(packages_of "$@")
if [ "$mode" = list ]; then printf '%s\n' "${pkgs[@]}"; exit 0; fi
if ! command -v dpkg-query >/dev/null 2>&1; then
  say "not a Debian system: install the equivalents of ${pkgs[*]} yourself"
  exit 0
fi
mapfile -t missing < <(missing_of "${pkgs[@]}")
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if [ "$mode" = missing ]; then printf '%s\n' "${missing[@]}"; exit 1; fi

sets=${*:-every set}
say "${sets// /, }: ${#missing[@]} package(s) missing: ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    echo "install-deps: as root run: apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  }
  SUDO=(sudo)
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true apt-get -y -q
  -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
mkdir -p "$(dirname "$LOG")"
: >"$LOG"

# step WHAT CMD...: runs CMD with its output in the log; on failure prints the log's tail.
step() {
  local what=$1; shift
  echo "== $what: $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1 </dev/null; then
    echo "install-deps: $what failed; the last lines of $LOG:" >&2
    tail -n 25 "$LOG" | sed 's/^/  | /' >&2
    exit 1
  fi
}

# While apt runs, services may not start (invoke-rc.d and deb-systemd-invoke ask
# policy-rc.d; 101 = action forbidden). An existing policy-rc.d is left alone.
POLICY=/usr/sbin/policy-rc.d
POLICY_MARK="# taskexecutord install-deps.sh: no service starts while packages install"
remove_policy() {
  if [ -f "$POLICY" ] && grep -qxF "$POLICY_MARK" "$POLICY"; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap remove_policy EXIT
trap 'exit 130' INT TERM
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY"
fi

# The enabled services and sockets: links in /etc/systemd/system/*.wants/.
enabled_units() {
  find /etc/systemd/system -type l -path '*.wants/*' \( -name '*.service' -o -name '*.socket' \) 2>/dev/null | sort
}
installed() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort; }
units_before=$(enabled_units)
pkgs_before=$(installed)
start=$SECONDS
say "apt-get update (log: ${LOG#"$ROOT"/})"
step "apt-get update" "${APT[@]}" update
say "installing ${#missing[@]} package(s) and what they depend on (log: ${LOG#"$ROOT"/})"
step "apt-get install" "${APT[@]}" install --no-install-recommends "${missing[@]}"

# A service or socket that a package of this run enabled (its postinst's
# deb-systemd-helper enable) is disabled again: the machine's set of enabled services
# stays what it was. Without systemctl (no systemd here) the links are removed.
disabled=()
while read -r link; do
  [ -n "$link" ] || continue
  unit=${link##*/}
  if command -v systemctl >/dev/null 2>&1; then
    step "systemctl disable $unit" "${SUDO[@]}" systemctl disable --quiet "$unit"
  fi
  [ ! -L "$link" ] || step "rm $link" "${SUDO[@]}" rm -f "$link"
  disabled+=("$unit")
done < <(comm -13 <(echo "$units_before") <(enabled_units))
[ "${#disabled[@]}" -eq 0 ] || say "disabled the service(s) the packages enabled: ${disabled[*]}"
say "installed $(comm -13 <(echo "$pkgs_before") <(installed) | grep -c .) package(s) in $((SECONDS - start))s"
