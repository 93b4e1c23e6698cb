#!/usr/bin/env bash
# Every test, from nothing: set up, check formatting and lints, run all suites, and print
# how long each suite took.
#
# Two cores are shared carefully: set-up that mostly waits on the network and the disk
# (the Swift chroot, Node and the extension's packages, the cached binding generators)
# runs in the background while the Rust suites compile and run; the bindings and Raycast
# suites reuse the library and daemon binary the Rust test build made.
source "$(dirname "$0")/lib.sh"
MURMUR_T0="$(date +%s)"
MURMUR_TIMES="$(mktemp)"
export MURMUR_TIMES MURMUR_T0
LOGS="$(mktemp -d)"
BG=()
cleanup() {
  local rc=$?
  for pid in "${BG[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  print_times
  rm -rf "$LOGS" "$MURMUR_TIMES"
  exit "$rc"
}
trap cleanup EXIT

# in_background NAME CMD...: start CMD now, in its own process group, logging to a file.
in_background() {
  local name="$1"
  shift
  log "started in the background: $name"
  set -m
  (suite "$name &" "$@") >"$LOGS/$name.log" 2>&1 &
  set +m
  BG+=("$!")
  eval "BG_$name=$!"
}
# await NAME: wait for a background job; on failure show its log and stop.
await() {
  local pid
  eval "pid=\$BG_$1"
  if ! wait "$pid"; then
    cat "$LOGS/$1.log" >&2
    die "$1 failed (log above)"
  fi
}

suite "set-up (MLX, BLAS, fixtures)" bash "$MURMUR_ROOT/scripts/setup.sh"
export MURMUR_SETUP_DONE=1
# Every Debian package any suite needs, now, so no two background jobs contend for dpkg:
# SoX with MP3 (the audio tests re-encode real speech), the C example's compiler and
# valgrind, debootstrap (Swift chroot), a compiler for termcast's native module.
apt_ensure sox libsox-fmt-mp3 valgrind gcc libc6-dev g++ make python3 debootstrap
command -v npm >/dev/null 2>&1 || apt_ensure nodejs npm

in_background swift_chroot bash "$MURMUR_ROOT/scripts/swift-chroot.sh" ensure
in_background raycast_deps bash "$MURMUR_ROOT/scripts/test-raycast.sh" --deps-only
in_background binding_tools bash "$MURMUR_ROOT/scripts/binding-tools.sh"
in_background openai_deps bash "$MURMUR_ROOT/scripts/test-openai.sh" --deps-only

suite "cargo fmt --check" cargo fmt --all -- --check
# (Its artifact list, like the test build's, tells scripts/prune-target.py what to keep.)
suite "cargo clippy -D warnings" bash -c \
  'cargo clippy -q --workspace --all-targets --message-format=json-render-diagnostics -- -D warnings >"$1"' \
  _ "$LOGS/clippy.json"
suite "no import cycles between modules" python3 "$MURMUR_ROOT/scripts/module-cycles.py" \
  core/src bindings/src tests

# One build serves every suite: the C, Swift and Raycast tests take the library and the
# `murmur` binary from it rather than building their own.
suite "cargo test: build" bash -c 'cargo test --workspace --no-run --message-format=json-render-diagnostics >"$1"' _ "$LOGS/artifacts.json"
eval "$(python3 - "$LOGS/artifacts.json" <<'PY'
import json, sys
lib = binary = ""
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact":
        continue
    if m["target"]["name"] == "murmur_ffi":
        lib = next((f for f in m["filenames"] if f.endswith(".so")), lib)
    # The `murmur` binary itself, not the unit-test harness cargo also builds from it.
    if m["target"]["name"] == "murmur" and m.get("executable") and not m["profile"]["test"]:
        binary = m["executable"]
print(f"export MURMUR_FFI_LIB='{lib}' MURMUR_BIN='{binary}'")
PY
)"
[ -f "$MURMUR_FFI_LIB" ] && [ -x "$MURMUR_BIN" ] || die "the test build made no libmurmur_ffi.so or murmur binary"
# The shared target directory keeps every old build unless told otherwise (it once
# filled the disk): drop what neither this clippy run nor this test build uses.
TARGET_DIR="$(cargo metadata -q --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
python3 "$MURMUR_ROOT/scripts/prune-target.py" "$TARGET_DIR/debug" "$MURMUR_T0" \
  "$LOGS/clippy.json" "$LOGS/artifacts.json"
log "target directory: $(du -sh "$TARGET_DIR" | cut -f1); free on its disk: $(df -h --output=avail "$TARGET_DIR" | tail -1 | tr -d ' ')"

# Ignored tests need set-up the plain `cargo test` lacks: here they run too.
MURMUR_PYTHON="$(bash "$MURMUR_ROOT/scripts/py-hub.sh")"
export MURMUR_PYTHON
suite "cargo test: run (per binary below)" bash -c \
  'set -o pipefail; cargo test --workspace --no-fail-fast -- --include-ignored 2>&1 | tee "$1"' _ "$LOGS/cargo-test.log"
python3 - "$LOGS/cargo-test.log" >>"$MURMUR_TIMES" <<'PY'
import re, sys
name = None
for line in open(sys.argv[1], errors="replace"):
    # "Running unittests src/lib.rs (target/debug/deps/murmur_core-0123)", "Running tests/ffi.rs (...)"
    m = re.match(r"\s+Running (unittests )?(\S+) \(.*/([A-Za-z0-9_]+)-[0-9a-f]+\)", line)
    if m:
        name = f"{m.group(3)} (unit tests)" if m.group(1) else m.group(2)
    m = re.match(r"\s+Doc-tests (\S+)", line)
    if m:
        name = "doc-tests " + m.group(1)
    m = re.search(r"test result: (\w+)\. (\d+) passed; (\d+) failed.*finished in ([\d.]+)s", line)
    if m and name and int(m.group(2)) + int(m.group(3)) > 0:
        print(f"  {name}\t{float(m.group(4)):.1f}\t{m.group(1)} ({m.group(2)} passed)")
PY

await binding_tools
await swift_chroot
suite "bindings (C, valgrind, Swift)" bash "$MURMUR_ROOT/scripts/test-bindings.sh"
await raycast_deps
suite "raycast extension" bash "$MURMUR_ROOT/scripts/test-raycast.sh"
await openai_deps
suite "OpenAI clients (Python, npm, README curl)" bash "$MURMUR_ROOT/scripts/test-openai.sh"
log "all suites passed"
