# Helpers for the install tests: a fresh Debian 12 (debootstrap minbase with git and
# sudo, as a new machine has them) in a chroot, a user `newcomer` with sudo, commands
# run as that user on a terminal nobody answers. Sourced by test/install/*.sh; needs
# root (re-run through sudo otherwise) and debootstrap (scripts/install-deps.sh install).
#
# TE_INSTALL_DIR    where the chroots and the caches live (build/install-test)
# TE_DEBIAN_MIRROR  the Debian archive (http://deb.debian.org/debian)
# TE_APT_CACHE=0    every chroot downloads its packages anew (default: one shared cache
#                   of downloaded .debs, so a run fetches each package once)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IDIR=${TE_INSTALL_DIR:-$ROOT/build/install-test}
MIRROR=${TE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
CHROOTS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "== $*"; }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "SKIP $(basename "$0"): needs root or sudo (debootstrap, chroot)"; exit 77; }
  exec sudo env TE_INSTALL_DIR="$IDIR" TE_DEBIAN_MIRROR="$MIRROR" TE_APT_CACHE="${TE_APT_CACHE:-1}" \
    TE_INSTALL_TIMEOUT="${TE_INSTALL_TIMEOUT:-}" bash "$0" "$@"
fi
command -v debootstrap >/dev/null || fail "debootstrap is not installed (scripts/install-deps.sh install)"

# The minbase, made once and kept in $IDIR/base (rm -rf it for a newer one).
chroot_base() {
  [ -x "$IDIR/base/usr/bin/git" ] && return 0
  rm -rf "$IDIR/base.tmp"
  mkdir -p "$IDIR"
  local t0=$SECONDS
  log "debootstrap --variant=minbase --include=git,sudo $SUITE (log: $IDIR/debootstrap.log)"
  debootstrap --variant=minbase --include=git,sudo "$SUITE" "$IDIR/base.tmp" "$MIRROR" \
    >"$IDIR/debootstrap.log" 2>&1 || { tail -n 20 "$IDIR/debootstrap.log" >&2; fail "debootstrap failed"; }
  # What a Debian 12 installation's sources are: the release, its updates, security.
  cat >"$IDIR/base.tmp/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
  rm -f "$IDIR/base.tmp/var/cache/apt/archives/"*.deb
  mv "$IDIR/base.tmp" "$IDIR/base"
  log "minbase ready in $((SECONDS - t0))s"
}

# chroot_new DIR: a fresh minbase in DIR with /proc, /sys, /dev/shm (Chromium needs
# it), a private /dev/pts, the host's resolver, and the user `newcomer` (password-less
# sudo, as the one who installed the machine). DIR is an overlay of the kept minbase with a tmpfs taking the writes (a
# copy where overlayfs is missing), so making and removing one costs next to nothing.
# Removed again by the EXIT trap.
chroot_new() {
  local r=$1
  chroot_free "$r"
  CHROOTS+=("$r")
  mkdir -p "$r" "$r.rw"
  if mount -t tmpfs -o size=8g,mode=0755 tmpfs "$r.rw" && mkdir "$r.rw/upper" "$r.rw/work" &&
    mount -t overlay overlay -o "lowerdir=$IDIR/base,upperdir=$r.rw/upper,workdir=$r.rw/work" "$r" 2>/dev/null; then :
  else
    mountpoint -q "$r.rw" && umount "$r.rw"
    rmdir "$r"
    cp -a "$IDIR/base" "$r"
  fi
  cp -L /etc/resolv.conf "$r/etc/resolv.conf"
  # As the installer writes it (sudo looks its host name up).
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$(hostname)" >"$r/etc/hosts"
  mount -t proc proc "$r/proc"
  mount -t sysfs sysfs "$r/sys"
  mkdir -p "$r/dev/shm"
  mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
  mkdir -p "$r/dev/pts"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
  rm -f "$r/dev/ptmx" && ln -s pts/ptmx "$r/dev/ptmx"
  if [ "${TE_APT_CACHE:-1}" != 0 ]; then
    mkdir -p "$IDIR/apt-archives/partial"
    mount --bind "$IDIR/apt-archives" "$r/var/cache/apt/archives"
  fi
  chroot "$r" useradd -m -s /bin/bash newcomer
  echo 'newcomer ALL=(ALL) NOPASSWD: ALL' >"$r/etc/sudoers.d/newcomer"
  chmod 0440 "$r/etc/sudoers.d/newcomer"
}

# chroot_user DIR TIMEOUT CMD: runs CMD (bash) as `newcomer` in its home, with a clean
# environment (nothing of the host's, DEBIAN_FRONTEND included) on a pseudo-terminal
# whose input never comes: a question hangs until TIMEOUT seconds and fails.
chroot_user() {
  local r=$1 limit=$2 cmd=$3
  local env=(env -i HOME=/home/newcomer USER=newcomer LOGNAME=newcomer TERM=xterm LANG=C.UTF-8
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin)
  local inner
  printf -v inner '%q ' "${env[@]}" bash -c "cd && $cmd"
  local rc=0 quiet
  exec {quiet}< <(sleep "$limit")
  local sleeper=$!
  timeout "$limit" chroot "$r" runuser -u newcomer -- script -qefc "$inner" /dev/null <&"$quiet" || rc=$?
  kill "$sleeper" 2>/dev/null || true
  exec {quiet}<&-
  return $rc
}

# The processes whose root is DIR (something the install started).
chroot_procs() {
  local r p
  r=$(readlink -f "$1")
  for p in $(find /proc -mindepth 2 -maxdepth 2 -name root -lname "$r" 2>/dev/null); do
    p=${p%/root}
    echo "${p#/proc/} $(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)"
  done
}

chroot_free() {
  local r=$1 m
  [ -d "$r" ] || return 0
  chroot_procs "$r" | while read -r pid _; do kill -9 "$pid" 2>/dev/null || true; done
  # Every mount under it, deepest first (ours, and any a test made: /run/netns).
  for m in $(awk -v r="$(readlink -f "$r")" '$2 == r || index($2, r "/") == 1 || $2 == r ".rw" { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf --one-file-system "$r"
  [ ! -d "$r.rw" ] || rmdir "$r.rw"
}

chroot_free_all() {
  local rc=$? r
  for r in "${CHROOTS[@]:-}"; do [ -n "$r" ] && chroot_free "$r"; done
  exit $rc
}
trap chroot_free_all EXIT
trap 'exit 130' INT TERM
