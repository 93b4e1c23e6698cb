#!/usr/bin/env bash
# Runs on the GPU machine (see prepare.sh). Writes results under $OUT.
#   run.sh stash   keep the carried parts in /tmp until the next calls
#   run.sh llm     install MLX CUDA + mlx-lm, make the Qwen3 benchmark models, measure
#                  copy bandwidth, run bench/compare.py (Murmur vs mlx-lm, alternating)
#   run.sh extra   A/B of MLX's CUDA graph batching on both sides' decode; Whisper base
#                  vs mlx-whisper (bench/compare.py --audio) on JFK and a 5-minute clip (bench/long_audio.py)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=/tmp/murmur-gpu
mkdir -p "$W"
PY=$(command -v python3)
SP=$($PY -c 'import site;print(site.getsitepackages()[0])')
export LD_LIBRARY_PATH="$SP/mlx/lib"
case "${1:-}" in
  stash)
    for d in .device/*/; do [ "$d" = .device/stage/ ] || cp "$d"* "$W/"; done
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    ls -la "$W"
    ;;
  llm)
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
    cat "$W"/whisper-pack.tar.* >"$W/whisper-pack.tar"
    mkdir -p "$W/wp" && tar -xf "$W/whisper-pack.tar" -C "$W/wp"
    xz -d "$W/wp/whisper-base-mlx/weights.safetensors.xz"
    $PY -m pip install -q --no-index --no-deps "$W"/wp/mlx_whisper-0.4.3-*.whl
    # A 5-minute clip (the issue's "~5 min file"): the LibriVox fixtures and JFK, 16 kHz mono, repeated.
    $PY bench/long_audio.py "$W/wp/audio" "$W/wp/audio/long.wav" --seconds 300
    PYTHONUNBUFFERED=1 $PY bench/compare.py --murmur "$W/murmur" --python "$PY" --runs "${RUNS:-2}" \
      --reps "${REPS:-2}" --model "$W/wp/whisper-base-mlx" --audio "$W/wp/audio/jfk.wav" "$W/wp/audio/long.wav" \
      --out "$OUT/whisper"
    ;;
  *) echo "usage: run.sh stash|llm|extra" >&2; exit 2 ;;
esac
