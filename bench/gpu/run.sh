#!/usr/bin/env bash
# Runs on the GPU machine (see prepare.sh). Writes results under $OUT.
#   run.sh stash   keep the carried parts in /tmp until the next calls
#   run.sh llm     install MLX CUDA + mlx-lm, make the Qwen3 benchmark models, measure
#                  copy bandwidth, run bench/compare.py (Murmur vs mlx-lm, alternating)
#   run.sh extra   A/B of MLX's CUDA graph batching on both sides' decode; Whisper base
#                  vs mlx-whisper (bench/compare.py --audio) on JFK and a 5-minute clip (bench/long_audio.py)
#   run.sh dictation  audio → transcript → refined text, Murmur vs mlx-whisper + mlx-lm
#                  (bench/compare_dictation.py) on JFK and the LibriVox sentences, Whisper
#                  base + the real SmolLM2-135M Q4_1 (the GGUF for Murmur, its MLX
#                  conversion for mlx-lm, made here by bench/gguf_to_mlx.py). Sets up
#                  whatever `llm`/`extra` have not (so it can follow `stash` directly with
#                  part2 + stage carried); RUNS (3), REPS (3), COMPARISON_RUNS (1).
#   run.sh cuda-check  is Murmur's LLM numerically right on this backend? The SmolLM2 GGUF
#                  refined greedily under MLX's CUDA variants (a fresh PTX cache, no CUDA
#                  graphs, 20 ops per buffer, dense float32), each block's activations
#                  traced (MURMUR_TRACE_ACTIVATIONS) to compare with the CPU's, and mlx-lm
#                  on the same weights as the reference. Same set-up as `dictation`.
#   run.sh sanitize  Murmur's greedy refine under compute-sanitizer (memcheck, racecheck).
#   run.sh live    live transcription vs dictate on the engine (`murmur bench --live`): JFK
#                  and a dictation with a pause (bench/make_live_clip.py), fed at real time;
#                  the wait after the audio ends and the confirmed text's lag. Same set-up
#                  as `dictation`; REPS (3); LIVE_FLAGS (e.g. --no-refine) passed on;
#                  LIVE_CLIPS (paths) instead of the two clips.
# Each step's set-up is idempotent (a marker in $W), so the steps run in any order on a
# warm machine. MURMUR_GPU_WORK (default /tmp/murmur-gpu), PY, DICTATION_AUDIO and
# SMOLLM2_DTYPE override the work folder, the Python, the dictation clips and the dtype
# of mlx-lm's SmolLM2 conversion (for a dry run on the CPU backend).
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${MURMUR_GPU_WORK:-/tmp/murmur-gpu}
mkdir -p "$W"
PY=${PY:-$(command -v python3)}
SP=$($PY -c 'import site;print(site.getsitepackages()[0])')
export LD_LIBRARY_PATH="$SP/mlx/lib"
# MLX CUDA + mlx-lm into the machine's Python, and the release `murmur` (part2 + stage).
setup_mlx() {
  [ -f "$W/.mlx-done" ] && return 0
  [ -d .device/stage ] || { echo "carry .device/part2 .device/stage for the first llm/dictation call" >&2; exit 2; }
  cp .device/part2/* "$W/"
  whl=mlx_cuda_13-0.32.2-py3-none-manylinux_2_35_x86_64.whl
  cat "$W/$whl.0" "$W/$whl.1" >"$W/$whl"
  $PY -m pip install -q --no-index --no-deps .device/stage/mlx-0.32.2-*.whl .device/stage/mlx_lm-0.32.2-*.whl
  # libmlx's RPATH finds the CUDA libraries in ../../nvidia/*: unpack next to them.
  $PY -m zipfile -e "$W/$whl" "$W/cuda"
  cp -r "$W/cuda/mlx/lib" "$W/cuda/mlx/include" "$SP/mlx/"
  cp -r "$W/cuda/mlx_cuda_13.libs" "$SP/" 2>/dev/null || true
  $PY -c 'import mlx.core as mx; print("python mlx", mx.__version__, mx.default_device())'
  xz -dc .device/stage/murmur.xz >"$W/murmur" && chmod +x "$W/murmur"
  touch "$W/.mlx-done"
}
# Whisper base (mlx-community layout), the speech fixtures and mlx-whisper (the pack).
setup_whisper() {
  [ -f "$W/.whisper-done" ] && return 0
  cat "$W"/whisper-pack.tar.* >"$W/whisper-pack.tar"
  mkdir -p "$W/wp" && tar -xf "$W/whisper-pack.tar" -C "$W/wp"
  xz -d "$W/wp/whisper-base-mlx/weights.safetensors.xz"
  $PY -m pip install -q --no-index --no-deps "$W"/wp/mlx_whisper-0.4.3-*.whl
  # Its tokenizer needs tiktoken (wheel in g2); numba and scipy are stubbed by the bench
  # scripts (word timestamps only).
  $PY -c 'import tiktoken' 2>/dev/null || $PY -m pip install -q --no-index --no-deps "$W"/tiktoken-*.whl
  $PY -c 'import tiktoken, tqdm, huggingface_hub' ||
    { echo "mlx-whisper cannot be imported here (see above)" >&2; exit 1; }
  touch "$W/.whisper-done"
}
# The SmolLM2 GGUF (g1 + g2) and its MLX conversion for mlx-lm (the same quantized
# weights; tokenizer files from the conversion made by prepare.sh).
setup_smollm2() {
  [ -f "$W/.smollm2-done" ] && return 0
  cat "$W"/smollm2.gguf.* >"$W/SmolLM2-135M-Instruct.Q4_1.gguf"
  echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $W/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c
  mkdir -p "$W/smollm2-tokenizer"
  tar -xJf "$W/smollm2-tokenizer.tar.xz" -C "$W/smollm2-tokenizer"
  # SMOLLM2_DTYPE=float32 for a dry run on the CPU backend, where Murmur dequantizes.
  $PY bench/gguf_to_mlx.py "$W/SmolLM2-135M-Instruct.Q4_1.gguf" "$W/models/smollm2-135m" \
    --tokenizer-from "$W/smollm2-tokenizer" ${SMOLLM2_DTYPE:+--dtype "$SMOLLM2_DTYPE"}
  touch "$W/.smollm2-done"
}
# What `dictation` and `live` need: the carried parts, MLX, Whisper, SmolLM2, the GPU's name.
setup_dictation() {
  for d in .device/*/; do
    case "$d" in .device/stage/ | .device/blobs/) ;; *) [ -d "$d" ] && cp "$d"* "$W/" ;; esac
  done
  setup_mlx
  setup_whisper
  mkdir -p "$W/models"
  setup_smollm2
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no GPU"; } |
    tee "$OUT/gpu.txt"
}
case "${1:-}" in
  unblob)
    # The blobs prepare.sh cut (copied to /tmp/blobs by the calls before): restore the
    # .device parts here, then stash them as `stash` does.
    cat /tmp/blobs/blob.* | tar -xf -
    for d in .device/*/; do
      case "$d" in .device/stage/ | .device/blobs/) ;; *) cp "$d"* "$W/" ;; esac
    done
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    ls -la "$W"
    ;;
  stash)
    for d in .device/*/; do
      case "$d" in .device/stage/ | .device/blobs/) ;; *) cp "$d"* "$W/" ;; esac
    done
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    ls -la "$W"
    ;;
  llm)
    setup_mlx
    mkdir -p "$W/tok" "$W/models"
    tar -xJf .device/stage/qwen3-tokenizer.tar.xz -C "$W/tok"
    $PY bench/make_models.py --tokenizer "$W/tok/qwen3-tokenizer" --out "$W/models" ${MODELS:-qwen3-0.6b qwen3-1.7b qwen3-4b}
    # Device-to-device copy bandwidth (bytes read + written), for decode's bandwidth bound.
    $PY - <<'PY' | tee "$OUT/bandwidth.json"
import json, torch
x = torch.empty(2 * 1024**3, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
s.record()
for _ in range(10): y.copy_(x)
e.record(); torch.cuda.synchronize()
bw = 2 * x.numel() * 10 / (s.elapsed_time(e) / 1e3)
print(json.dumps({"gpu": torch.cuda.get_device_name(), "copy_bytes_per_sec": bw}))
PY
    models=()
    for m in ${MODELS:-qwen3-0.6b qwen3-1.7b qwen3-4b}; do models+=("$W/models/$m"); done
    PYTHONUNBUFFERED=1 $PY bench/compare.py --murmur "$W/murmur" --python "$PY" \
      --runs "${RUNS:-3}" --cold-runs "${COLD_RUNS:-3}" --model "${models[@]}" --out "$OUT/llm"
    ;;
  extra)
    # A/B of MLX's CUDA graph batching (ops per command buffer) on decode, both sides,
    # same model: Murmur's CLI sets 50 where the variable is unset; MLX's default is 20.
    for m in qwen3-0.6b qwen3-4b; do
      for side in murmur python; do
        for v in 20 50; do
          if [ $side = murmur ]; then cmd=("$W/murmur" bench); else cmd=($PY bench/bench_mlx_lm.py); fi
          MLX_MAX_OPS_PER_BUFFER=$v "${cmd[@]}" --model "$W/models/$m" --prompt-lens 128 --reps 1 |
            $PY -c "import json,sys; t=sys.stdin.read(); r=json.loads(t[t.index('{'):]); print('$m', '$side', 'ops/buffer $v', round(r['decode_tokens_per_sec'],1), 'tok/s')"
        done
      done
    done | tee "$OUT/ops-per-buffer.txt"
    setup_whisper
    # A 5-minute clip (the issue's "~5 min file"): the LibriVox fixtures and JFK, 16 kHz mono, repeated.
    $PY bench/long_audio.py "$W/wp/audio" "$W/wp/audio/long.wav" --seconds 300
    PYTHONUNBUFFERED=1 $PY bench/compare.py --murmur "$W/murmur" --python "$PY" --runs "${RUNS:-2}" \
      --reps "${REPS:-2}" --model "$W/wp/whisper-base-mlx" --audio "$W/wp/audio/jfk.wav" "$W/wp/audio/long.wav" \
      --out "$OUT/whisper"
    ;;
  dictation)
    setup_dictation
    if [ -n "${DICTATION_AUDIO:-}" ]; then
      read -r -a audio <<<"$DICTATION_AUDIO"
    else
      audio=("$W/wp/audio/jfk.wav" "$W"/wp/audio/sense_and_sensibility_*.wav)
    fi
    PYTHONUNBUFFERED=1 $PY bench/compare_dictation.py --murmur "$W/murmur" --python "$PY" \
      --runs "${RUNS:-3}" --reps "${REPS:-3}" --comparison-runs "${COMPARISON_RUNS:-1}" \
      --whisper "$W/wp/whisper-base-mlx" --model "$W/SmolLM2-135M-Instruct.Q4_1.gguf" \
      --python-model "$W/models/smollm2-135m" \
      --audio "${audio[@]}" --out "$OUT/dictation"
    ;;
  cuda-check)
    setup_dictation
    text="so um the capital of france is is paris and uh the capital of germany is berlin"
    gguf="$W/SmolLM2-135M-Instruct.Q4_1.gguf"
    check() { # name, env..., -- murmur args...
      local name=$1; shift
      local envs=()
      while [ "$1" != -- ]; do envs+=("$1"); shift; done
      shift
      echo "== $name"
      env MLX_PTX_CACHE_DIR="$W/ptx-$name" MURMUR_TRACE_ACTIVATIONS=1 "${envs[@]}" \
        timeout 120 "$W/murmur" refine --model "$gguf" --temperature 0 --repetition-penalty 1 \
        --max-tokens 32 "$@" "$text" >"$OUT/check-$name.txt" 2>"$OUT/check-$name.trace" ||
        echo "exit $?"
      head -c 400 "$OUT/check-$name.txt"; echo
      # The first block whose output is not finite, and the first logits lines.
      awk '/non-finite [1-9]/ && !bad {print; bad=1} /logits|rror/ && n++ < 3' "$OUT/check-$name.trace"
    }
    check fresh --
    check again MLX_PTX_CACHE_DIR="$W/ptx-fresh" --
    check no-graphs MLX_USE_CUDA_GRAPHS=0 --
    check ops20 MLX_MAX_OPS_PER_BUFFER=20 --
    check f32 -- --precision float32
    check penalty -- --repetition-penalty 1.15
    check plain MLX_PTX_CACHE_DIR="$W/ptx-fresh" -- --no-prompt-lookup
    which compute-sanitizer 2>/dev/null || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null || echo "no compute-sanitizer"
    echo "== Murmur's layer ops alone (bench/gpu/ops_check.py)"
    MLX_PTX_CACHE_DIR="$W/ptx-python" $PY bench/gpu/ops_check.py 2>&1 | tee "$OUT/ops-check.txt" || true
    echo "== mlx-lm"
    MLX_PTX_CACHE_DIR="$W/ptx-python" $PY -c '
import sys
from mlx_lm import load, generate
m, t = load(sys.argv[1])
msgs = [{"role": "user", "content": sys.argv[2]}]
p = t.apply_chat_template(msgs, add_generation_prompt=True)
print(generate(m, t, prompt=p, max_tokens=32))' "$W/models/smollm2-135m" "$text" 2>&1 | tail -5 | tee "$OUT/check-mlx-lm.txt"
    ;;
  sanitize)
    # Murmur's refine under compute-sanitizer's memcheck: the first kernel that reads or
    # writes out of bounds, by name (the greedy SmolLM2 check of `cuda-check`, 4 tokens).
    for d in .device/*/; do
      case "$d" in .device/stage/ | .device/blobs/) ;; *) [ -d "$d" ] && cp "$d"* "$W/" ;; esac
    done
    setup_mlx
    cat "$W"/smollm2.gguf.* >"$W/SmolLM2-135M-Instruct.Q4_1.gguf"
    echo "== Murmur's layer ops alone (bench/gpu/ops_check.py)"
    timeout "${OPS_SECS:-120}" $PY bench/gpu/ops_check.py 2>&1 | tee "$OUT/ops-check.txt" || true
    san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    for tool in ${SANITIZE_TOOLS:-memcheck}; do
      echo "== $tool"
      MLX_USE_CUDA_GRAPHS=0 timeout "${SANITIZE_SECS:-150}" "$san" --tool "$tool" --print-limit 12 \
        "$W/murmur" refine --model "$W/SmolLM2-135M-Instruct.Q4_1.gguf" --temperature 0 \
        --repetition-penalty 1 --max-tokens 4 "so um the capital of france is is paris" 2>&1 |
        tee "$OUT/sanitize-$tool.txt" | grep -v '^=========     Host Frame' | head -60 || true
    done
    ;;
  live)
    setup_dictation
    # The pause clip is built from the pack's speech (its fixtures folder layout).
    mkdir -p "$W/lf/audio/librivox"
    cp "$W/wp/audio/jfk.wav" "$W/lf/audio/"
    cp "$W"/wp/audio/sense_and_sensibility_*.wav "$W/lf/audio/librivox/"
    $PY bench/make_live_clip.py "$W/lf" "$W/wp/audio/dictation_with_pause.wav"
    # shellcheck disable=SC2086
    "$W/murmur" bench --live --whisper "$W/wp/whisper-base-mlx" \
      --model "$W/SmolLM2-135M-Instruct.Q4_1.gguf" --reps "${REPS:-3}" ${LIVE_FLAGS:-} \
      --audio ${LIVE_CLIPS:-"$W/wp/audio/jfk.wav" "$W/wp/audio/dictation_with_pause.wav"} \
      --json "$OUT/live.json" >/dev/null 2> >(tee "$OUT/live.txt" >&2)
    ;;
  *) echo "usage: run.sh unblob|stash|llm|extra|dictation|cuda-check|sanitize|live" >&2; exit 2 ;;
esac
