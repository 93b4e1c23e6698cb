#!/usr/bin/env bash
# OpenAI's official clients against a real `murmur serve` (issue 19): the `openai` Python
# package (tests/openai/test_python_client.py), the `openai` npm package
# (tests/openai/client.test.mjs) and the README's curl examples (tests/openai/readme_curl.py),
# all on one daemon with SmolLM2-135M (`smollm2`) and Whisper base (`whisper-test`, the
# default speech model, which `whisper-1` names), offline once set up.
#
#   scripts/test-openai.sh              set up and test
#   scripts/test-openai.sh --deps-only  only the clients (scripts/test.sh runs this in the
#                                       background while Rust builds)
# $MURMUR_BIN, when set (scripts/test.sh sets it), is the daemon binary to test.
source "$(dirname "$0")/lib.sh"
source "$MURMUR_ROOT/scripts/node.sh"
OPENAI_PY=3.63.0
VENV="$MURMUR_CACHE/venv-openai"
python_venv "$VENV" "" "openai==$OPENAI_PY"
npm_install "$MURMUR_ROOT/tests/openai"
[ "${1:-}" != --deps-only ] || exit 0

daemon_bin

# A private, offline home with the two fixture models registered.
HOME_DIR="$(mktemp -d)"
DAEMON=""
stop() {
  [ -z "$DAEMON" ] || kill "$DAEMON" 2>/dev/null || true
  [ -z "$DAEMON" ] || wait "$DAEMON" 2>/dev/null || true
  rm -rf "$HOME_DIR"
}
trap stop EXIT
export MURMUR_CONFIG_DIR="$HOME_DIR/config" HF_HOME="$HOME_DIR/hf" HF_HUB_CACHE="$HOME_DIR/hf/hub"
export HF_HUB_OFFLINE=1 MURMUR_RAM_BYTES=$((8 << 30))
unset HF_ENDPOINT MURMUR_SOCKET MURMUR_IDLE_UNLOAD_SECS MURMUR_IDLE_UNLOAD_MINUTES
"$MURMUR_BIN" models add "$MURMUR_FIXTURES/smollm2" --id smollm2 >/dev/null
"$MURMUR_BIN" models add "$MURMUR_FIXTURES/whisper-base-ct2" --id whisper-test --audio >/dev/null
mkdir -p -m 700 "$HOME_DIR/run"
MURMUR_DEFAULT_MODEL=smollm2 MURMUR_DEFAULT_AUDIO_MODEL=whisper-test \
  "$MURMUR_BIN" serve --socket "$HOME_DIR/run/murmur.sock" --tcp \
  >"$HOME_DIR/ready" 2>"$HOME_DIR/daemon.log" &
DAEMON=$!
for _ in $(seq 600); do
  [ -s "$HOME_DIR/ready" ] && break
  kill -0 "$DAEMON" 2>/dev/null || { cat "$HOME_DIR/daemon.log" >&2; die "the daemon did not start"; }
  sleep 0.1
done
read -r TCP TOKEN_FILE < <(python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["tcp"], r["token_file"])' <"$HOME_DIR/ready")
export OPENAI_BASE_URL="http://$TCP/v1" OPENAI_API_KEY="$(cat "$TOKEN_FILE")" MODEL=smollm2
log "murmur serve on $TCP (log: daemon.log, shown on failure)"
show_log() { tail -n 40 "$HOME_DIR/daemon.log" >&2; }

cd "$MURMUR_ROOT"
suite "  openai: Python client (openai $OPENAI_PY)" "$VENV/bin/python" -m unittest -v tests/openai/test_python_client.py || { show_log; exit 1; }
suite "  openai: npm client (openai $(node -p 'require("./tests/openai/package.json").dependencies.openai'))" \
  node --test tests/openai/client.test.mjs || { show_log; exit 1; }
suite "  openai: README's curl examples" python3 tests/openai/readme_curl.py README.md || { show_log; exit 1; }
log "openai: all passed"
