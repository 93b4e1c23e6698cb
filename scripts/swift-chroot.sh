#!/usr/bin/env bash
# Swift 6 on a Debian 12 machine: Debian 13 (trixie) has `swiftlang` 6.0.3, but it needs
# glibc >= 2.38, so it lives in a trixie chroot (see docs: swift-and-raycast-on-linux).
#
#   scripts/swift-chroot.sh ensure        build the chroot when missing or incomplete
#   scripts/swift-chroot.sh run CMD...    run CMD (a bash command line) in the chroot, in the
#                                         current folder, with the checkout and the cache
#                                         bind-mounted at their own paths
#
# The chroot is cached in $MURMUR_CACHE/swift-trixie (about 2.3 GB). It is built in a
# temporary folder and renamed into place with a stamp of what it holds, so an interrupted
# build is never mistaken for a complete one. Everything mounted is unmounted on exit,
# failures and interrupts included. Needs root (debootstrap, chroot, mount).
source "$(dirname "$0")/lib.sh"

CHROOT="$MURMUR_CACHE/swift-trixie"
SUITE=trixie
PACKAGES=(swiftlang libc6-dev libstdc++-14-dev libcurl4-openssl-dev libxml2-dev git pkgconf)
# Change the stamp when the recipe changes: the chroot is then rebuilt.
STAMP="v1 $SUITE ${PACKAGES[*]}"

[ "$(id -u)" -eq 0 ] || die "swift-chroot.sh needs root (debootstrap, chroot, mount)"

# The Debian mirror the host already uses (debootstrap needs a plain archive URL); empty
# when the host names none, and debootstrap then uses its own default mirror.
mirror() {
  local uri
  uri="$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    tr ' ' '\n' | grep -v -- '-security' | head -n1 || true)"
  if [ -z "$uri" ]; then
    uri="$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
  fi
  echo "$uri"
}

# Mount points made by this process, unmounted in reverse order by the trap.
MOUNTS=()
unmount_all() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
  done
  MOUNTS=()
}
# The command in the chroot runs as a background child so that a signal is handled at once:
# the child is stopped, then everything is unmounted.
CHILD=""
stop_child() {
  if [ -n "$CHILD" ]; then
    kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
}
trap 'stop_child; unmount_all' EXIT
trap 'exit 130' INT TERM

# bind SRC ROOT: bind-mount SRC at the same path inside ROOT.
bind() {
  mkdir -p "$2$1"
  mount --bind "$1" "$2$1"
  MOUNTS+=("$2$1")
}
mount_system() {
  mount -t proc proc "$1/proc"
  MOUNTS+=("$1/proc")
  mount --bind /dev "$1/dev"
  MOUNTS+=("$1/dev")
}

complete() { [ "$(cat "$CHROOT/.murmur-stamp" 2>/dev/null)" = "$STAMP" ] && { [ -L "$CHROOT/usr/bin/swift" ] || [ -x "$CHROOT/usr/bin/swift" ]; }; }

ensure() {
  complete && return 0
  apt_ensure debootstrap
  local tmp="$MURMUR_CACHE/.swift-trixie.tmp"
  # A leftover of an interrupted build may still have mounts: never delete through them.
  if [ -d "$tmp" ]; then
    for m in proc dev; do umount "$tmp/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$tmp"
  fi
  local url
  url="$(mirror)"
  log "building the Swift chroot (Debian $SUITE from ${url:-the default debootstrap mirror}; about 2 minutes and 550 MB of downloads, once)"
  retry 3 debootstrap --variant=minbase "$SUITE" "$tmp" ${url:+"$url"} >/dev/null
  mount_system "$tmp"
  chroot "$tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PACKAGES[*]} >/dev/null && apt-get clean"
  # Swift finds its runtime through /proc/self/exe: check while /proc is mounted.
  chroot "$tmp" swift --version >/dev/null 2>&1 || die "swift does not run in the new chroot"
  unmount_all
  echo "$STAMP" >"$tmp/.murmur-stamp"
  if [ -d "$CHROOT" ]; then
    for m in proc dev; do umount "$CHROOT/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$CHROOT"
  fi
  mv "$tmp" "$CHROOT"
  log "Swift chroot ready in $CHROOT"
}

run() {
  ensure
  # One user at a time: concurrent runs would share (and unmount) each other's mounts.
  exec 9>"$MURMUR_CACHE/.swift-trixie.lock"
  flock 9
  mount_system "$CHROOT"
  bind "$MURMUR_ROOT" "$CHROOT"
  case "$MURMUR_CACHE" in
    "$MURMUR_ROOT"/*) ;;
    *) bind "$MURMUR_CACHE" "$CHROOT" ;;
  esac
  # libmlx.so links the host's BLAS by absolute RPATH (lib.sh: mlx_use_blas): the same
  # library, at the same path, inside.
  [ ! -d "$BLAS_DIR" ] || bind "$BLAS_DIR" "$CHROOT"
  cp -L /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
  local status=0
  # setsid: the command and everything it starts form one group, stopped together.
  setsid chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 TERM="${TERM:-dumb}" MURMUR_CACHE="$MURMUR_CACHE" MURMUR_ROOT="$MURMUR_ROOT" \
    MURMUR_FIXTURES="$MURMUR_FIXTURES" bash -c "cd '$PWD' && $*" &
  CHILD=$!
  wait "$CHILD" || status=$?
  CHILD=""
  unmount_all
  return "$status"
}

case "${1:-}" in
  ensure) ensure ;;
  run)
    shift
    [ $# -gt 0 ] || die "usage: swift-chroot.sh run CMD..."
    run "$@"
    ;;
  *) die "usage: swift-chroot.sh ensure | run CMD..." ;;
esac
