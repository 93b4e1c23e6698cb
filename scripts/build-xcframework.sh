#!/usr/bin/env bash
# Build swift-package/MurmurFFI.xcframework for Apple platforms — on a Mac with Xcode
# (xcodebuild, the iOS SDKs), rustup and cmake (mlx-sys builds MLX with Metal). Cannot
# run on Linux.
#
#   scripts/build-xcframework.sh [--debug]
#
# What it does:
#   1. Builds the static library of murmur-ffi (release unless --debug) for
#      aarch64-apple-darwin (macOS), aarch64-apple-ios (devices) and aarch64-apple-ios-sim
#      (the simulator on Apple Silicon). Each archive bundles MLX and every Rust dependency.
#   2. Checks that the committed header and module map (swift-package/Sources/MurmurFFI,
#      made by scripts/test-bindings.sh with uniffi-bindgen from the same Rust code) match
#      what uniffi-bindgen makes from the macOS library, so the XCFramework and the
#      generated Swift agree.
#   3. Packs the three archives with the header and module map (module `MurmurFFI`) into
#      the XCFramework that Package.swift's binaryTarget points at, and copies MLX's Metal
#      shader library (mlx.metallib) beside it: an app must ship it next to its executable
#      (macOS: Contents/MacOS/; iOS: the app bundle's root).
#
# For a release, zip the XCFramework, upload it, and switch Package.swift's binaryTarget to
# `url:` + `checksum:` (`swift package compute-checksum MurmurFFI.xcframework.zip`).
source "$(dirname "$0")/lib.sh"

profile=release
case "${1:-}" in
  --debug) profile=debug ;;
  "") ;;
  *) die "usage: build-xcframework.sh [--debug]" ;;
esac
[ "$(uname -s)" = Darwin ] || die "build-xcframework.sh needs macOS with Xcode (xcodebuild)"
command -v xcodebuild >/dev/null || die "xcodebuild not found: install Xcode"
command -v rustup >/dev/null || die "rustup not found: https://rustup.rs"

TARGETS=(aarch64-apple-darwin aarch64-apple-ios aarch64-apple-ios-sim)
rustup target add "${TARGETS[@]}"

flags=()
[ "$profile" = release ] && flags+=(--release)
# Apple builds never use the Linux MLX override: cargo's own target dir, upstream mlx-sys.
TARGET_DIR="$MURMUR_ROOT/target"
export CARGO_TARGET_DIR="$TARGET_DIR"
export IPHONEOS_DEPLOYMENT_TARGET=17.0 MACOSX_DEPLOYMENT_TARGET=14.0
for t in "${TARGETS[@]}"; do
  log "cargo rustc -p murmur-ffi --crate-type staticlib --target $t ($profile)"
  cargo rustc -p murmur-ffi --lib --crate-type staticlib --target "$t" "${flags[@]}"
done
# The dylib too, for uniffi-bindgen's check below (it reads the library's metadata).
cargo build -p murmur-ffi --lib --target aarch64-apple-darwin "${flags[@]}"

# 2. Header and module map: the committed ones, checked against this build.
HEADERS="$(mktemp -d)"
trap 'rm -rf "$HEADERS"' EXIT
log "checking the generated header against the macOS library"
source "$MURMUR_ROOT/scripts/binding-tools.sh"
swift_bindings "$TARGET_DIR/aarch64-apple-darwin/$profile/libmurmur_ffi.dylib" "$HEADERS/gen"
FFI="$MURMUR_ROOT/swift-package/Sources/MurmurFFI"
for f in MurmurFFI.h MurmurCoreFFI.h module.modulemap; do
  cmp -s "$HEADERS/gen/$f" "$FFI/$f" ||
    die "swift-package/Sources/MurmurFFI/$f is stale: run scripts/test-bindings.sh --update"
done
for f in MurmurBindings.swift MurmurCoreBindings.swift; do
  cmp -s "$HEADERS/gen/$f" "$MURMUR_ROOT/swift-package/Sources/MurmurBindings/$f" ||
    die "the generated Swift bindings are stale: run scripts/test-bindings.sh --update"
done
mkdir -p "$HEADERS/include"
cp "$FFI/MurmurFFI.h" "$FFI/MurmurCoreFFI.h" "$FFI/module.modulemap" "$HEADERS/include/"

# 3. The XCFramework.
OUT="$MURMUR_ROOT/swift-package/MurmurFFI.xcframework"
rm -rf "$OUT"
args=()
for t in "${TARGETS[@]}"; do
  args+=(-library "$TARGET_DIR/$t/$profile/libmurmur_ffi.a" -headers "$HEADERS/include")
done
log "xcodebuild -create-xcframework"
xcodebuild -create-xcframework "${args[@]}" -output "$OUT" >/dev/null

# MLX's shaders, built by mlx-sys next to its macOS build output.
metallib="$(find "$TARGET_DIR/aarch64-apple-darwin/$profile/build" -name mlx.metallib -print -quit 2>/dev/null || true)"
if [ -n "$metallib" ]; then
  cp "$metallib" "$MURMUR_ROOT/swift-package/mlx.metallib"
  log "copied mlx.metallib to swift-package/ (ship it beside the app's executable)"
else
  log "warning: mlx.metallib not found under $TARGET_DIR/aarch64-apple-darwin/$profile/build"
fi
log "built $OUT"
