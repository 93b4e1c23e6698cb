# Shared helpers for Murmur's scripts. Source it; do not run it.
#
# Everything heavy and reusable lives in one cache folder outside the clone, so that a
# second clone (CI's) reuses it: $MURMUR_CACHE, else /var/cache/murmur when writable,
# else ~/.cache/murmur.

set -euo pipefail

MURMUR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${MURMUR_CACHE:-}" ]; then
  if mkdir -p /var/cache/murmur 2>/dev/null && [ -w /var/cache/murmur ]; then
    MURMUR_CACHE=/var/cache/murmur
  else
    MURMUR_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/murmur"
  fi
fi
mkdir -p "$MURMUR_CACHE"
export MURMUR_CACHE MURMUR_ROOT
export MURMUR_FIXTURES="${MURMUR_FIXTURES:-$MURMUR_CACHE/fixtures}"

log() { printf '\033[1;34m[murmur]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[murmur] error:\033[0m %s\n' "$*" >&2; exit 1; }

# sha256_ok FILE HASH: true when FILE exists and has that sha256.
sha256_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# verify FILE HASH: fail loudly (and remove the file) when the hash differs, so a
# corrupt or truncated download is never reused as if it were complete.
verify() {
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then
    rm -f "$1"
    die "sha256 mismatch for $1: expected $2, got $got (file removed; run again)"
  fi
}

# retry N CMD...: run CMD up to N times with a growing pause; registries hiccup.
retry() {
  local n="$1" i=1
  shift
  until "$@"; do
    [ "$i" -ge "$n" ] && return 1
    log "retrying ($i/$n): $*"
    sleep $((i * 3))
    i=$((i + 1))
  done
}

APT_UPDATED=0
# apt_ensure PKG...: install the Debian packages that are missing (needs root).
apt_ensure() {
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (install them as root)"
  log "apt-get install ${missing[*]}"
  if [ "$APT_UPDATED" -eq 0 ]; then
    retry 3 apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive retry 3 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# apt_update_once: `apt-get download` needs fresh lists too.
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    retry 3 apt-get update -qq
    APT_UPDATED=1
  fi
}

# Cargo must run inside the project so that .cargo/config.toml (and the generated
# Linux override it includes) is read.
cd "$MURMUR_ROOT"
