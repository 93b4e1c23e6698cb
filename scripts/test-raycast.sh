#!/usr/bin/env bash
# The Raycast extension and the daemon it talks to, all offline once set up:
#   - tsc --noEmit, eslint (@raycast/eslint-config), prettier --check, `ray build`
#   - vitest: the engine client (src/lib/engine.ts) against a real `murmur serve`
#     on the real SmolLM2-135M model, started by the client itself; the commands' pure
#     logic (models, outcomes, errors, progress, dictation edits/timings, vocabulary)
#   - e2e: the real extension under termcast (the Raycast API in a terminal, on Bun),
#     driven by tuistory: Refine Selected Text, Transcribe Audio File, Manage Models,
#     Dictate Audio File and Manage Vocabulary
# Tests that need a daemon route the daemon lacks (HTTP 404 `not_found`, e.g. /v1/dictate
# before that branch is merged) are skipped with a note; any other failure fails.
# Node 22 and npm's cache live in $MURMUR_CACHE (scripts/node.sh); node_modules in the
# extension folders, installed from the lock files and skipped when unchanged.
#
#   scripts/test-raycast.sh              set up and test
#   scripts/test-raycast.sh --deps-only  only Node and the packages (scripts/test.sh runs
#                                        this in the background while Rust builds)
# $MURMUR_BIN, when set (scripts/test.sh sets it), is the daemon binary to test.
source "$(dirname "$0")/lib.sh"
source "$MURMUR_ROOT/scripts/node.sh"
EXT="$MURMUR_ROOT/raycast-extension"

# termcast's better-sqlite3 compiles from source.
apt_ensure g++ make python3
npm_install "$EXT"
npm_install "$EXT/e2e"
[ "${1:-}" != --deps-only ] || exit 0

daemon_bin

cd "$EXT"
lint() {
  npx tsc --noEmit
  npx eslint --max-warnings 0 src test
  npx prettier --check . >/dev/null
}
suite "  raycast: tsc, eslint, prettier" lint
suite "  raycast: ray build" bash -c 'npx ray build -e dist -o dist >/dev/null'
suite "  raycast: vitest (client vs real murmur serve)" npx vitest run
suite "  raycast: e2e (termcast + tuistory)" bash -c \
  'cd e2e && node --no-warnings --test --test-concurrency=1 ./*.test.mjs'
log "raycast: all passed"
