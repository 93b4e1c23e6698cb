#!/usr/bin/env bash
# Prepare a Swift release: the XCFramework zip that a tag's Package.swift points at.
#
#   scripts/release-swift.sh VERSION [--base-url URL] [--xcframework DIR] [--out DIR]
#
#   VERSION          the tag to make, e.g. 0.2.0
#   --base-url URL   where release assets live (default: this repository's GitHub
#                    releases, https://github.com/murmur-dev/murmur/releases/download)
#   --xcframework D  an XCFramework already built (default: build it, which needs a Mac:
#                    scripts/build-xcframework.sh)
#   --out DIR        where the zip goes (default: dist/)
#
# Steps: build (Mac only) → zip deterministically → SHA-256 (what SwiftPM's
# `compute-checksum` computes) → pin `releaseXCFramework` in Package.swift to
# BASE/VERSION/MurmurFFI.xcframework.zip and its checksum. Then, by hand: upload the zip
# to the release VERSION, commit Package.swift, `git tag VERSION`, push the tag. A
# consumer's `.package(url:…, from: VERSION)` then fetches exactly that binary.
#
# Only the build needs macOS: zipping, the checksum and the manifest pin run anywhere,
# and scripts/test-bindings.sh runs them on Linux (with a stand-in XCFramework).
source "$(dirname "$0")/lib.sh"

version="${1:-}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "usage: release-swift.sh VERSION (like 0.2.0) [--base-url URL] [--xcframework DIR] [--out DIR]"
shift
base_url=https://github.com/murmur-dev/murmur/releases/download
xcframework=""
out="$MURMUR_ROOT/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --base-url) base_url="${2:?}"; shift 2 ;;
    --xcframework) xcframework="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

if [ -z "$xcframework" ]; then
  [ "$(uname -s)" = Darwin ] || die "building the XCFramework needs macOS; pass --xcframework DIR to use one built there"
  bash "$MURMUR_ROOT/scripts/build-xcframework.sh"
  xcframework="$MURMUR_ROOT/swift-package/MurmurFFI.xcframework"
fi
[ -d "$xcframework" ] && [ "$(basename "$xcframework")" = MurmurFFI.xcframework ] ||
  die "$xcframework is not a MurmurFFI.xcframework folder"
[ -f "$xcframework/Info.plist" ] || die "$xcframework has no Info.plist: not an XCFramework"

# Deterministic zip (sorted entries, fixed times, no extra attributes): the same
# XCFramework always gives the same checksum.
mkdir -p "$out"
zip="$out/MurmurFFI.xcframework.zip"
python3 - "$xcframework" "$zip.tmp" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.abspath(src))
paths = []
for d, dirs, files in os.walk(src):
    dirs.sort()
    paths += [os.path.join(d, f) for f in sorted(files)]
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for p in paths:
        info = zipfile.ZipInfo(os.path.relpath(p, root), date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if os.access(p, os.X_OK) else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(p, "rb") as f:
            z.writestr(info, f.read())
PY
mv "$zip.tmp" "$zip"
checksum="$(sha256sum "$zip" | cut -d' ' -f1)"
url="$base_url/$version/MurmurFFI.xcframework.zip"

# Pin the manifest: exactly one line holds the release binary's URL and checksum.
manifest="$MURMUR_ROOT/Package.swift"
python3 - "$manifest" "$url" "$checksum" <<'PY'
import re, sys
path, url, checksum = sys.argv[1:]
text = open(path).read()
line = re.compile(r'^let releaseXCFramework = \(url: "[^"]*", checksum: "[^"]*"\)$', re.M)
if len(line.findall(text)) != 1:
    sys.exit(f"{path}: expected one `let releaseXCFramework = (url: ..., checksum: ...)` line")
text = line.sub(f'let releaseXCFramework = (url: "{url}", checksum: "{checksum}")', text)
open(path + ".tmp", "w").write(text)
PY
mv "$manifest.tmp" "$manifest"
log "Package.swift pinned to $url"
log "checksum $checksum"
echo "$checksum"
cat >&2 <<MSG
Next: upload $zip to the release $version, then
  git commit -m "Release $version" Package.swift && git tag $version && git push origin $version
MSG
