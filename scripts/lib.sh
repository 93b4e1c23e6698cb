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

# The optimized BLAS that libmlx.so's float32 matrix products run on, on Linux (the
# mlx-cpu wheel bundles netlib's reference BLAS, 5-20x slower). BLIS over OpenBLAS:
# decoding multiplies one row at a time, and OpenBLAS 0.3.21 (Debian 12) packs the
# whole weight matrix for such a product, while BLIS's skinny-matrix path reads it in
# place: 2x the decode tokens/s on SmolLM2 here, the same on big products (BENCHMARKS.md).
BLAS_PACKAGE=libblis4-pthread
BLAS_SONAME=libblis.so.4
BLAS_DIR="/usr/lib/$(uname -m)-linux-gnu/blis-pthread"
BLAS_STAMP="$BLAS_PACKAGE"

# mlx_use_blas LIBMLX: point a libmlx.so from the mlx-cpu wheel at $BLAS_SONAME instead of
# the wheel's reference BLAS (its LAPACK, which MLX only uses for linalg, is kept).
# Used for Murmur's libmlx and the Python reference's alike, so benchmarks stay fair.
mlx_use_blas() {
  local lib="$1" old rpath
  apt_ensure "$BLAS_PACKAGE" patchelf
  [ -f "$BLAS_DIR/$BLAS_SONAME" ] || die "$BLAS_PACKAGE has no $BLAS_DIR/$BLAS_SONAME"
  old="$(patchelf --print-needed "$lib" | grep -E '^libblas-[0-9a-f]+\.so' || true)"
  if [ -n "$old" ]; then
    patchelf --replace-needed "$old" "$BLAS_SONAME" "$lib"
  elif ! patchelf --print-needed "$lib" | grep -qx "$BLAS_SONAME"; then
    die "$lib links no BLAS this script knows: $(patchelf --print-needed "$lib" | tr '\n' ' ')"
  fi
  rpath="$(patchelf --print-rpath "$lib")"
  case ":$rpath:" in
    *":$BLAS_DIR:"*) ;;
    *) patchelf --force-rpath --set-rpath "${rpath:+$rpath:}$BLAS_DIR" "$lib" ;;
  esac
}

# Cargo must run inside the project so that .cargo/config.toml (and the generated
# Linux override it includes) is read.
cd "$MURMUR_ROOT"

# python_venv DIR FIXUP REQS...: a virtualenv in DIR with REQS installed from PyPI, made
# again when REQS change; FIXUP (a command, or "") runs once on the new venv, given its
# python. Prints nothing; the python is DIR/bin/python.
python_venv() {
  local dir="$1" fixup="$2" want
  shift 2
  want="$* ${fixup:+($fixup, $BLAS_STAMP)}"
  [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ] && return 0
  log "creating a Python venv in $dir ($*)"
  rm -rf "$dir"
  python3 -m venv "$dir"
  retry 3 "$dir/bin/pip" install -q "$@" >&2
  [ -z "$fixup" ] || $fixup "$dir/bin/python" >&2
  echo "$want" >"$dir/.stamp"
}

# daemon_bin: set MURMUR_BIN to the `murmur` binary a client suite starts as its daemon
# (scripts/test.sh passes the one its test build made; alone, build it), after set-up.
daemon_bin() {
  [ -n "${MURMUR_SETUP_DONE:-}" ] || bash "$MURMUR_ROOT/scripts/setup.sh"
  if [ -z "${MURMUR_BIN:-}" ]; then
    log "cargo build murmur (the daemon the tests start)"
    cargo build -q -p murmur-ffi --bin murmur
    MURMUR_BIN="$(cargo metadata -q --format-version 1 --no-deps |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/murmur"
  fi
  [ -x "$MURMUR_BIN" ] || die "no murmur binary at $MURMUR_BIN"
  export MURMUR_BIN
}

# --- suite timing -------------------------------------------------------------------
# suite NAME CMD...: run CMD; when $MURMUR_TIMES names a file (scripts/test.sh sets it),
# record how long it took and whether it passed, for the table printed at the end.
suite() {
  local name="$1" start rc=0 us
  shift
  log "$name"
  start="${EPOCHREALTIME/./}"
  # In a subshell with errexit on and outside any `||`, so a shell function given as
  # CMD stops at its first failing command (errexit is ignored inside `f || ...`).
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  us=$((${EPOCHREALTIME/./} - start))
  if [ -n "${MURMUR_TIMES:-}" ]; then
    printf '%s\t%d.%d\t%s\n' "$name" $((us / 1000000)) $((us / 100000 % 10)) \
      "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED ($rc)")" >>"$MURMUR_TIMES"
  fi
  return "$rc"
}

# print_times: the table of every suite recorded in $MURMUR_TIMES, in order, with the
# wall time since $MURMUR_T0 (seconds since the epoch, set by the caller).
print_times() {
  [ -n "${MURMUR_TIMES:-}" ] && [ -f "$MURMUR_TIMES" ] || return 0
  {
    printf '\n%-44s %9s  %s\n' "suite" "seconds" "result"
    printf '%-44s %9s  %s\n' "-----" "-------" "------"
    while IFS=$'\t' read -r name secs result; do
      printf '%-44s %9s  %s\n' "$name" "$secs" "$result"
    done <"$MURMUR_TIMES"
    [ -n "${MURMUR_T0:-}" ] && printf '%-44s %9s\n' "wall time (suites overlap where marked &)" "$(($(date +%s) - MURMUR_T0))"
  } >&2
}
