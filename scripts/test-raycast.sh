#!/usr/bin/env bash
# The Raycast extension and the daemon it talks to, all offline once set up:
#   - tsc --noEmit, eslint (@raycast/eslint-config), prettier --check, `ray build`
#   - vitest: the engine client (src/lib/engine.ts) against a real `murmur serve`
#     on the real SmolLM2-135M model, started by the client itself
#   - e2e: the real extension under termcast (the Raycast API in a terminal, on Bun),
#     driven by tuistory: Refine Selected Text and Manage Models
# Node 22 and npm's cache live in $MURMUR_CACHE (scripts/node.sh); node_modules in the
# extension folders, installed from the lock files and skipped when unchanged.
source "$(dirname "$0")/lib.sh"
source "$MURMUR_ROOT/scripts/node.sh"
EXT="$MURMUR_ROOT/raycast-extension"

bash "$MURMUR_ROOT/scripts/setup.sh"
# termcast's better-sqlite3 compiles from source.
apt_ensure g++ make python3

log "cargo build murmur (the daemon the tests start)"
cargo build -q -p murmur-ffi --bin murmur
MURMUR_BIN="$(cargo metadata -q --format-version 1 --no-deps |
  node -e 'let s="";process.stdin.on("data",(c)=>(s+=c)).on("end",()=>console.log(JSON.parse(s).target_directory))')/debug/murmur"
[ -x "$MURMUR_BIN" ] || die "no murmur binary at $MURMUR_BIN"
export MURMUR_BIN

npm_install "$EXT"
cd "$EXT"
log "raycast: tsc --noEmit, eslint, prettier --check"
npx tsc --noEmit
npx eslint --max-warnings 0 src test
npx prettier --check . >/dev/null
log "raycast: ray build"
npx ray build -e dist -o dist >/dev/null
log "raycast: vitest (the client against a real murmur serve)"
npx vitest run
log "raycast: e2e (the extension under termcast, driven by tuistory)"
npm_install "$EXT/e2e"
(cd e2e && node --no-warnings --test --test-concurrency=1 ./*.test.mjs)
log "raycast: all passed"
