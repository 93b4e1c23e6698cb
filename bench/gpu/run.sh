#!/usr/bin/env bash
# Runs on the GPU machine (see prepare.sh). Writes results under $OUT.
#   run.sh stash   keep the first wheel part in /tmp until the second call
#   run.sh bench   install MLX CUDA + mlx-lm, make the Qwen3 benchmark models, measure
#                  copy bandwidth, run bench/compare.py (Murmur vs mlx-lm, alternating)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=/tmp/murmur-gpu
mkdir -p "$W"
case "${1:-}" in
  stash)
    cp .device/part1/* "$W/"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    ls -la "$W"
    ;;
  bench)
    cp .device/part2/* "$W/"
    whl=mlx_cuda_13-0.32.2-py3-none-manylinux_2_35_x86_64.whl
    cat "$W/$whl.0" "$W/$whl.1" >"$W/$whl"
    PY=$(command -v python3)
    SP=$($PY -c 'import site;print(site.getsitepackages()[0])')
    $PY -m pip install -q --no-index --no-deps .device/stage/mlx-0.32.2-*.whl .device/stage/mlx_lm-0.32.2-*.whl
    # libmlx's RPATH finds the CUDA libraries in ../../nvidia/*: unpack next to them.
    $PY -m zipfile -e "$W/$whl" "$W/cuda"
    cp -r "$W/cuda/mlx/lib" "$W/cuda/mlx/include" "$SP/mlx/"
    cp -r "$W/cuda/mlx_cuda_13.libs" "$SP/" 2>/dev/null || true
    $PY -c 'import mlx.core as mx; print("python mlx", mx.__version__, mx.default_device())'
    export LD_LIBRARY_PATH="$SP/mlx/lib"
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
    chmod +x .device/stage/murmur
    .device/stage/murmur bench --model "$W/models/qwen3-0.6b" --prompt-lens 128 --decode-tokens 16 | tail -5
    # A/B of MLX's CUDA graph batching knobs on Murmur's decode (same binary, same model).
    for m in qwen3-0.6b qwen3-4b; do
      for v in "" MLX_MAX_OPS_PER_BUFFER=50 MLX_MAX_OPS_PER_BUFFER=120 MLX_USE_CUDA_GRAPHS=0; do
        env $v .device/stage/murmur bench --model "$W/models/$m" --prompt-lens 128 |
          $PY -c "import json,sys; r=json.load(sys.stdin); p=r['decode_profile']; print('$m', '${v:-default}', round(r['decode_tokens_per_sec'],1), 'tok/s; build', round(p['build_ms'],3), 'schedule', round(p['schedule_ms'],3), 'wait', round(p['wait_ms'],3))"
      done
    done
    models=()
    for m in ${MODELS:-qwen3-0.6b qwen3-1.7b qwen3-4b}; do models+=("$W/models/$m"); done
    PYTHONUNBUFFERED=1 $PY bench/compare.py --murmur .device/stage/murmur --python "$PY" \
      --runs "${RUNS:-3}" --cold-runs "${COLD_RUNS:-3}" --model "${models[@]}" --out "$OUT/llm"
    ;;
  *) echo "usage: run.sh stash|bench" >&2; exit 2 ;;
esac
