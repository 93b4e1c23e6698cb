#!/usr/bin/env bash
# The binding generators, built once into $MURMUR_CACHE: cbindgen for the C header, and
# uniffi's own uniffi-bindgen (the uniffi version in Cargo.lock) for the Swift bindings in
# library mode. Source it (after lib.sh) to get $CBINDGEN and $UNIFFI_BINDGEN, or run it
# to install them (scripts/test.sh does, in the background).
declare -F log >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CBINDGEN_VERSION=0.29.4
CBINDGEN="$MURMUR_CACHE/cbindgen-$CBINDGEN_VERSION/bin/cbindgen"
if ! "$CBINDGEN" --version 2>/dev/null | grep -q "$CBINDGEN_VERSION"; then
  log "installing cbindgen $CBINDGEN_VERSION (about 2 minutes, once)"
  retry 3 cargo install -q cbindgen --version "$CBINDGEN_VERSION" --locked \
    --root "$MURMUR_CACHE/cbindgen-$CBINDGEN_VERSION"
fi
UNIFFI_VERSION="$(sed -n '/^name = "uniffi"$/{n;s/^version = "\(.*\)"/\1/p}' "$MURMUR_ROOT/Cargo.lock")"
[ -n "$UNIFFI_VERSION" ] || die "no uniffi in Cargo.lock"
UNIFFI_BINDGEN="$MURMUR_CACHE/uniffi-bindgen-$UNIFFI_VERSION/bin/uniffi-bindgen"
if [ ! -x "$UNIFFI_BINDGEN" ]; then
  log "installing uniffi-bindgen $UNIFFI_VERSION (about 2 minutes, once)"
  retry 3 cargo install -q uniffi --version "$UNIFFI_VERSION" --features cli --bin uniffi-bindgen \
    --locked --root "$MURMUR_CACHE/uniffi-bindgen-$UNIFFI_VERSION"
fi

# swift_bindings LIB OUT: generate the Swift bindings of every crate in LIB (murmur-ffi's
# and the core types it shares: MurmurBindings.swift, MurmurCoreBindings.swift and their C headers) into
# OUT, plus OUT/module.modulemap: one C module `MurmurFFI` over both headers, as the
# Swift package and the XCFramework use it (uniffi writes one module map per crate).
swift_bindings() {
  local lib="$1" out="$2"
  "$UNIFFI_BINDGEN" generate --library "$lib" --language swift --out-dir "$out" 2>&1 |
    grep -v 'Unable to auto-format' >&2 || true
  [ -f "$out/MurmurBindings.swift" ] && [ -f "$out/MurmurCoreBindings.swift" ] || die "uniffi-bindgen made no Swift bindings"
  python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
ffi = open(f"{out}/MurmurFFI.modulemap").read()
core = open(f"{out}/MurmurCoreFFI.modulemap").read()
extra = re.findall(r'^\s*header "[^"]+"\n', core, re.M)
lines = ffi.splitlines(keepends=True)
i = next(n for n, l in enumerate(lines) if l.strip().startswith("header ")) + 1
open(f"{out}/module.modulemap", "w").write("".join(lines[:i] + extra + lines[i:]))
PY
}
