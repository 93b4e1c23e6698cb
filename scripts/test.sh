#!/usr/bin/env bash
# Every test, from nothing: set up, check formatting and lints, run all suites.
source "$(dirname "$0")/lib.sh"
bash "$MURMUR_ROOT/scripts/setup.sh"
# The audio tests re-encode real speech to MP3/OGG/FLAC with SoX (MP3 needs its plugin).
apt_ensure sox libsox-fmt-mp3

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy -q --workspace --all-targets -- -D warnings
log "cargo test"
cargo test --workspace
bash "$MURMUR_ROOT/scripts/test-bindings.sh"
bash "$MURMUR_ROOT/scripts/test-raycast.sh"
