#!/usr/bin/env bash
# A new app depending on Murmur as its users do: a consumer package that resolves Murmur
# by git URL and version tag, builds with a plain `swift build` against the library as
# scripts/install-linux.sh installs it, and runs a refinement. Its second executable is
# swift-package/README.md's example, compiled verbatim (not run: it downloads models).
# Also checks scripts/release-swift.sh's Linux-side work: the zip's checksum equals
# SwiftPM's `compute-checksum`, and the pinned manifest of the tag resolves.
#
#   scripts/test-swift-consumer.sh LIB     LIB: the libmurmur_ffi.so to install
#
# Runs in the Swift chroot (scripts/swift-chroot.sh), which has git and pkg-config.
source "$(dirname "$0")/lib.sh"

lib="${1:?usage: test-swift-consumer.sh LIBMURMUR_FFI_SO}"
# Inside the cache, which the chroot sees at the same path.
WORK="$MURMUR_CACHE/swift-consumer"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT

# 1. The repository as a release tag holds it: the working tree's files (committed or
#    not, ignored ones left out), pinned to a release XCFramework (a stand-in here: only
#    Apple platforms use it), committed and tagged.
repo="$WORK/murmur"
mkdir -p "$repo"
(cd "$MURMUR_ROOT" && git ls-files -z --cached --others --exclude-standard |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$repo"
git_in() { git -C "$repo" -c user.name=murmur-ci -c user.email=ci@murmur.invalid "$@"; }
git_in init -q
git_in add -A
git_in commit -qm "snapshot of the working tree"
fake="$WORK/xcf/MurmurFFI.xcframework"
mkdir -p "$fake/macos-arm64"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict/></plist>\n' >"$fake/Info.plist"
printf 'stand-in\n' >"$fake/macos-arm64/README"
checksum="$(bash "$repo/scripts/release-swift.sh" 0.1.0 --xcframework "$fake" --out "$WORK/dist" \
  --base-url https://releases.murmur.invalid 2>/dev/null)"
grep -q "let releaseXCFramework = (url: \"https://releases.murmur.invalid/0.1.0/MurmurFFI.xcframework.zip\", checksum: \"$checksum\")" \
  "$repo/Package.swift" || die "release-swift.sh did not pin Package.swift"
git_in commit -qam "Release 0.1.0"
git_in tag 0.1.0

# 2. The library where a plain `swift build` finds it.
bash "$MURMUR_ROOT/scripts/install-linux.sh" --prefix "$WORK/prefix" --lib "$lib"

# 3. The consumer: a URL dependency on the tag, an app and the README's example.
consumer="$WORK/consumer"
mkdir -p "$consumer/Sources/Consumer" "$consumer/Sources/ReadmeSnippet"
cat >"$consumer/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Consumer",
    platforms: [.macOS(.v14)],
    dependencies: [.package(url: "file://$repo", from: "0.1.0")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "Murmur", package: "murmur")]),
        .executableTarget(name: "ReadmeSnippet", dependencies: [.product(name: "Murmur", package: "murmur")]),
    ]
)
SWIFT
python3 - "$MURMUR_ROOT/swift-package/README.md" "$consumer/Sources/ReadmeSnippet/main.swift" <<'PY'
import re, sys
blocks = re.findall(r"^```swift\n(.*?)^```$", open(sys.argv[1]).read(), re.M | re.S)
if not blocks:
    sys.exit("swift-package/README.md has no ```swift example")
open(sys.argv[2], "w").write(blocks[0])
PY
cat >"$consumer/Sources/Consumer/main.swift" <<'SWIFT'
// An app's first use: an engine, a model added from disk, a refinement that names no
// model (the one on disk is used).
import Foundation
import Murmur

let fixtures = URL(fileURLWithPath: CommandLine.arguments[1])
let home = FileManager.default.temporaryDirectory.appendingPathComponent("consumer-\(UUID().uuidString)")
let engine = try Engine(
    configuration: EngineConfig(cacheDirectory: home.appendingPathComponent("hub"), offline: true))
try engine.addModel(at: fixtures.appendingPathComponent("smollm2"), id: "smol")
var options = RefineOptions(temperature: 0, maxTokens: 8)
options.mode = .fixGrammar
let result = try await engine.refine("i has a apple", options: options)
print("refined by \(result.model): \(result.text)")
guard result.model == "smol", !result.text.isEmpty else { exit(1) }
SWIFT

bash "$MURMUR_ROOT/scripts/swift-chroot.sh" run "set -e
  cd '$consumer'
  export PKG_CONFIG_PATH='$WORK/prefix/lib/pkgconfig' LD_LIBRARY_PATH='$WORK/prefix/lib' HOME='$WORK/home'
  swift build --scratch-path '$WORK/build' --cache-path '$WORK/spm-cache'
  '$WORK/build/debug/Consumer' '$MURMUR_FIXTURES'
  test \"\$(swift package compute-checksum '$WORK/dist/MurmurFFI.xcframework.zip')\" = '$checksum'
  echo 'consumer: built by URL and tag, ran, checksum matches'"
