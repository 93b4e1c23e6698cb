#!/usr/bin/env bash
# The main job on the embedded default model, from nothing: set up, build, refine.
#   scripts/run.sh              refine a messy dictated sentence, streaming the result
#   scripts/run.sh ARGS...      run `murmur ARGS...` instead
# The default model: here (Linux, no Hub) the real SmolLM2-135M-Instruct fixture; on a
# Mac with network, the model recommended for its RAM (Qwen3-1.7B on 8 GB), downloaded
# into the Hugging Face cache on first use.
source "$(dirname "$0")/lib.sh"
bash "$MURMUR_ROOT/scripts/setup.sh"
if [ $# -eq 0 ]; then
  model=()
  # SmolLM2-135M is tiny: a low temperature keeps it on task (Qwen3 uses the seeds' 0.7).
  [ "$(uname -s)" = Darwin ] ||
    model=(--model "$MURMUR_FIXTURES/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" --temperature 0.3 --seed 1)
  set -- refine "${model[@]}" --stats \
    "um so basically i think we should uh move the meeting to to thursday because like half the team is out on tuesday you know"
fi
cargo run -q -p murmur-ffi --bin murmur -- "$@"
