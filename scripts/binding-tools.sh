#!/usr/bin/env bash
# The binding generators, built once into $MURMUR_CACHE: cbindgen for the C header, and
# uniffi's own uniffi-bindgen (the uniffi version in Cargo.lock) for the Swift bindings in
# library mode. Source it (after lib.sh) to get $CBINDGEN and $UNIFFI_BINDGEN, or run it
# to install them (scripts/test.sh does, in the background).
[ -n "${MURMUR_ROOT:-}" ] || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
