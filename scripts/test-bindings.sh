#!/usr/bin/env bash
# The bindings end to end: C header and Swift bindings up to date, the C example natively
# and under valgrind, the Swift package's tests (Swift 6 in a Debian trixie chroot).
#
#   scripts/test-bindings.sh            check and test
#   scripts/test-bindings.sh --update   regenerate bindings/include/murmur.h and the
#                                       generated Swift bindings first, then test
#
# $MURMUR_FFI_LIB, when set (scripts/test.sh sets it), is the libmurmur_ffi.so to test:
# the one the workspace test build made. Otherwise this script builds it.
#
# Generated files (committed, never edited by hand):
#   bindings/include/murmur.h                       cbindgen, from bindings/src/c_api.rs
#   swift-package/Sources/MurmurBindings/*.swift   uniffi-bindgen,
#   swift-package/Sources/MurmurFFI/{MurmurFFI.h,MurmurCoreFFI.h,module.modulemap}
#                                                   library mode, from the unstripped .so
#                                                   (binding-tools.sh: swift_bindings)
source "$(dirname "$0")/lib.sh"

update=0
case "${1:-}" in
  --update) update=1 ;;
  "") ;;
  *) die "usage: test-bindings.sh [--update]" ;;
esac

source "$MURMUR_ROOT/scripts/binding-tools.sh"
[ -n "${MURMUR_SETUP_DONE:-}" ] || bash "$MURMUR_ROOT/scripts/setup.sh"
apt_ensure valgrind gcc libc6-dev python3

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# fresh_or_update GENERATED COMMITTED: compare (or, with --update, replace).
stale=()
fresh_or_update() {
  if [ "$update" -eq 1 ]; then
    mkdir -p "$(dirname "$2")"
    cp "$1" "$2"
  elif ! cmp -s "$1" "$2"; then
    diff -u "$2" "$1" | head -n 40 >&2 || true
    stale+=("$2")
  fi
}

# --- the C header ----------------------------------------------------------------------
log "cbindgen: bindings/include/murmur.h"
"$CBINDGEN" --quiet --config bindings/cbindgen.toml --crate murmur-ffi \
  --output "$WORK/murmur.h" bindings
fresh_or_update "$WORK/murmur.h" bindings/include/murmur.h

# --- the library and the Swift bindings ------------------------------------------------
LIBDIR="$MURMUR_CACHE/murmur-ffi-lib"
mkdir -p "$LIBDIR"
if [ -z "${MURMUR_FFI_LIB:-}" ]; then
  log "cargo build -p murmur-ffi (cdylib)"
  MURMUR_FFI_LIB="$(cargo build -q -p murmur-ffi --lib --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "murmur_ffi":
        print(next(f for f in m["filenames"] if f.endswith(".so")))
')"
fi
[ -f "$MURMUR_FFI_LIB" ] || die "no libmurmur_ffi.so (got '$MURMUR_FFI_LIB')"
# A copy at a fixed path: the C example and the Swift package link against it there.
cp "$MURMUR_FFI_LIB" "$LIBDIR/libmurmur_ffi.so.tmp"
mv "$LIBDIR/libmurmur_ffi.so.tmp" "$LIBDIR/libmurmur_ffi.so"

log "uniffi-bindgen: swift-package generated bindings"
swift_bindings "$LIBDIR/libmurmur_ffi.so" "$WORK/swift"
for f in MurmurBindings.swift MurmurCoreBindings.swift; do
  fresh_or_update "$WORK/swift/$f" "swift-package/Sources/MurmurBindings/$f"
done
for f in MurmurFFI.h MurmurCoreFFI.h module.modulemap; do
  fresh_or_update "$WORK/swift/$f" "swift-package/Sources/MurmurFFI/$f"
done

if [ "${#stale[@]}" -gt 0 ]; then
  die "generated files are stale: ${stale[*]} (run scripts/test-bindings.sh --update and commit them)"
fi

# --- the C example ---------------------------------------------------------------------
FIX="$MURMUR_FIXTURES"
JFK_TEXT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jfk"]["text"].strip())' \
  tests/goldens/whisper/transcripts.json)"
C_ARGS=("$FIX/smollm2" "$FIX/whisper-base-ct2" "$FIX/audio/jfk.wav" "$JFK_TEXT")
cc_example() {
  gcc -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g -I bindings/include \
    bindings/c-example/main.c -L"$LIBDIR" -lmurmur_ffi -Wl,-rpath,"$LIBDIR" "$@"
}
# The whole example (refine, cancel, typed errors, transcription of jfk.wav to the golden
# sentence) with AddressSanitizer: invalid accesses abort it, and LeakSanitizer fails it
# on any block left unreachable at exit (Rust's allocations included: they go through
# the same malloc).
c_asan() {
  cc_example -fsanitize=address -fno-omit-frame-pointer -o "$WORK/murmur-c-example-asan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$WORK/murmur-c-example-asan" "${C_ARGS[@]}"
}
suite "  C example: refine + transcribe (ASan, LSan)" c_asan
# valgrind: no definite leaks, no invalid reads or writes. Without the models: under
# valgrind, loading SmolLM2 and one refine on MLX's CPU backend ran past 7 minutes (the
# whole example natively: about a minute). The suppressions only
# cover what lives for the whole process (the runtime's threads, MLX's statics; see file).
c_valgrind() {
  cc_example -o "$WORK/murmur-c-example"
  MURMUR_C_NO_MODELS=1 valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=1 --suppressions=bindings/c-example/valgrind.supp \
    "$WORK/murmur-c-example" "${C_ARGS[@]}"
}
suite "  C example under valgrind (engine life)" c_valgrind

# --- Swift -----------------------------------------------------------------------------
suite "  swift test (Swift 6, trixie chroot)" bash "$MURMUR_ROOT/scripts/swift-chroot.sh" run \
  "swift test --scratch-path '$MURMUR_CACHE/swift-build' \
   -Xswiftc -warnings-as-errors \
   -Xlinker -L'$LIBDIR' -Xlinker -rpath -Xlinker '$LIBDIR'"
suite "  Swift consumer: URL + tag, README example" \
  bash "$MURMUR_ROOT/scripts/test-swift-consumer.sh" "$LIBDIR/libmurmur_ffi.so"
log "bindings: all passed"
