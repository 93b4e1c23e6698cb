#!/usr/bin/env bash
# The main job on the embedded default model, from nothing: set up, build, run.
#   scripts/run.sh              load SmolLM2-135M through MLX and report it
#   scripts/run.sh ARGS...      run `murmur ARGS...` instead
source "$(dirname "$0")/lib.sh"
bash "$MURMUR_ROOT/scripts/setup.sh"
if [ $# -eq 0 ]; then
  set -- inspect "$MURMUR_FIXTURES/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
fi
cargo run -q -p murmur-ffi --bin murmur -- "$@"
