#!/usr/bin/env bash
# The main job on the embedded default models, from nothing: set up, build, dictate.
#   scripts/run.sh              transcribe a real speech clip (JFK, 11 s) with Whisper,
#                               streaming segments, then refine the transcript with a chat
#                               model, streaming the result
#   scripts/run.sh ARGS...      run `murmur ARGS...` instead
# The default models: here (Linux, no Hub) the real Whisper base (CTranslate2) and
# SmolLM2-135M-Instruct fixtures; on a Mac with network, the models recommended for its
# RAM (Whisper base + Qwen3-1.7B on 8 GB, Whisper large-v3 turbo + Qwen3-4B/8B above),
# downloaded into the Hugging Face cache on first use.
source "$(dirname "$0")/lib.sh"
bash "$MURMUR_ROOT/scripts/setup.sh"
if [ $# -eq 0 ]; then
  models=()
  [ "$(uname -s)" = Darwin ] ||
    # SmolLM2-135M is tiny: greedy keeps it closest to the task (Qwen3 uses the Python sidecars' 0.7).
    models=(--model "$MURMUR_FIXTURES/whisper-base-ct2"
      --refine-model "$MURMUR_FIXTURES/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" --refine-temperature 0)
  set -- transcribe "$MURMUR_FIXTURES/audio/jfk.wav" "${models[@]}" --verbose
fi
cargo run -q -p murmur-ffi --bin murmur -- "$@"
