#!/usr/bin/env bash
# Install Murmur's library for Swift (and C) consumers on Linux, so that a package that
# depends on Murmur builds with a plain `swift build`:
#
#   scripts/install-linux.sh [--prefix DIR] [--lib PATH]
#
#   --prefix DIR   where to install (default /usr/local; needs write access there)
#   --lib PATH     an already built libmurmur_ffi.so (default: build it, release)
#
# It installs
#   DIR/lib/libmurmur_ffi.so                 the library (its RUNPATH: $ORIGIN/murmur/...)
#   DIR/lib/murmur/mlx/lib/libmlx.so         MLX's CPU backend (from the mlx-cpu wheel,
#   DIR/lib/murmur/mlx_cpu.libs/             relinked to BLIS, see scripts/setup-mlx.sh)
#   DIR/include/murmur/murmur.h              the C API
#   DIR/lib/pkgconfig/murmur.pc              what SwiftPM's system library `MurmurFFI`
#                                            asks pkg-config for (-L, -l)
# BLIS itself comes from Debian (libblis4-pthread), installed here when missing.
#
# Under /usr/local, pkg-config finds murmur.pc and the loader finds the library (ldconfig
# is run) by themselves. Elsewhere, tell both where DIR is (SwiftPM refuses an rpath from
# pkg-config):
#   export PKG_CONFIG_PATH=DIR/lib/pkgconfig LD_LIBRARY_PATH=DIR/lib
# (or list DIR/lib in /etc/ld.so.conf.d/ and run ldconfig).
source "$(dirname "$0")/lib.sh"

prefix=/usr/local
lib=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    --lib) lib="${2:?--lib needs a path}"; shift 2 ;;
    *) die "usage: install-linux.sh [--prefix DIR] [--lib PATH]" ;;
  esac
done
[ "$(uname -s)" = Linux ] || die "install-linux.sh is for Linux (Apple platforms use the XCFramework)"
mkdir -p "$prefix" || die "cannot create $prefix"
prefix="$(cd "$prefix" && pwd)"

[ -n "${MURMUR_SETUP_DONE:-}" ] || bash "$MURMUR_ROOT/scripts/setup.sh"
apt_ensure patchelf libblis4-pthread
if [ -z "$lib" ]; then
  log "cargo build --release -p murmur-ffi (the library)"
  cargo build -q --release -p murmur-ffi --lib
  lib="$(cargo metadata -q --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/libmurmur_ffi.so"
fi
[ -f "$lib" ] || die "no library at $lib"

# The MLX build libmurmur_ffi.so was linked against: its RUNPATH names the folder.
mlx_lib="$(patchelf --print-rpath "$lib" | tr ':' '\n' | while read -r d; do
  [ -f "$d/libmlx.so" ] && echo "$d" && break
done)"
[ -n "$mlx_lib" ] || die "cannot find the libmlx.so $lib was linked against (RUNPATH: $(patchelf --print-rpath "$lib"))"
wheel="$(cd "$mlx_lib/../.." && pwd)"

# Build the tree beside the destination, then move it in: a failure never leaves a
# half-installed library that looks complete.
stage="$(mktemp -d "$prefix/.murmur-install.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/murmur/mlx/lib" "$stage/lib/pkgconfig" "$stage/include/murmur"
cp "$mlx_lib/libmlx.so" "$stage/lib/murmur/mlx/lib/"
cp -r "$wheel/mlx_cpu.libs" "$stage/lib/murmur/"
cp "$lib" "$stage/lib/libmurmur_ffi.so"
patchelf --set-rpath '$ORIGIN/murmur/mlx/lib' "$stage/lib/libmurmur_ffi.so"
cp "$MURMUR_ROOT/bindings/include/murmur.h" "$stage/include/murmur/"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$MURMUR_ROOT/Cargo.toml" | head -n1)"
cat >"$stage/lib/pkgconfig/murmur.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: murmur
Description: Murmur: on-device speech-to-text and text refinement (C ABI and Swift FFI)
Version: ${version:-0.1.0}
Libs: -L\${libdir} -lmurmur_ffi
Cflags: -I\${includedir}/murmur
PC

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
rm -rf "$prefix/lib/murmur" "$prefix/include/murmur"
mv "$stage/lib/murmur" "$prefix/lib/murmur"
mv "$stage/include/murmur" "$prefix/include/murmur"
mv "$stage/lib/libmurmur_ffi.so" "$prefix/lib/libmurmur_ffi.so"
mv "$stage/lib/pkgconfig/murmur.pc" "$prefix/lib/pkgconfig/murmur.pc"
if [ "$prefix" = /usr/local ] && [ "$(id -u)" -eq 0 ]; then ldconfig; fi
log "installed libmurmur_ffi.so ${version:-} into $prefix (pkg-config: murmur)"
