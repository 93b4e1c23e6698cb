#!/usr/bin/env bash
# Stage what the GPU machine needs into .device/ (git-ignored), in carries that each fit
# the device tool's 64 MiB limit together with the working tree (~7 MB):
#   .device/part1/  first half of the mlx-cuda-13 wheel + the first chunk of the Whisper pack
#   .device/w1/, .device/w2/  the middle chunks of the Whisper pack
#   .device/part2/  second half of the wheel + the last chunk of the pack
#   .device/g1/, .device/g2/  the SmolLM2-135M-Instruct Q4_1 GGUF fixture in two halves
#                   (g2 also has the tokenizer files of its MLX conversion, which the GPU
#                   machine cannot make: it has no `gguf` package, and the tiktoken wheel
#                   mlx-whisper needs), for `run.sh dictation`
#   .device/stage/  the release `murmur` (xz; built here against the CPU libmlx: same
#                   SONAME and headers as the CUDA one), the cp312 mlx + mlx-lm wheels,
#                   and the Qwen3 tokenizer (xz) for the benchmark models.
# The Whisper pack (tar): Whisper base in the mlx-community layout (converted from the
# CTranslate2 fixture by scripts/goldens/whisper_ct2_to_mlx.py; weights xz-compressed),
# the speech fixtures, and the mlx-whisper 0.4.3 wheel.
# Then, on the device, consecutive calls while the machine is warm:
#   carry .device/part1:                bash bench/gpu/run.sh stash
#   carry .device/w1, then .device/w2:  bash bench/gpu/run.sh stash
#   carry .device/g1, then .device/g2:  bash bench/gpu/run.sh stash
#   carry .device/part2 .device/stage:  RUNS=2 COLD_RUNS=2 bash bench/gpu/run.sh llm
#   no carry:                           bash bench/gpu/run.sh extra
#   no carry:                           bash bench/gpu/run.sh dictation
# (`dictation` alone, right after the stash calls: carry .device/part2 .device/stage.)
# Usage: bench/gpu/prepare.sh [MURMUR_BINARY]   (default: build the release binary here)
source "$(dirname "$0")/../../scripts/lib.sh"
bash "$MURMUR_ROOT/scripts/setup-mlx.sh" --backend cuda
bash "$MURMUR_ROOT/scripts/fixtures.sh"
PY=$(bash "$MURMUR_ROOT/scripts/py-venv.sh")
bin="${1:-}"
if [ -z "$bin" ]; then
  cargo build --release -q -p murmur-ffi --bin murmur
  target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')"
  bin="$target/release/murmur"
fi
D="$MURMUR_ROOT/.device"
W="$MURMUR_CACHE/gpu-stage"
mkdir -p "$W"
whl=mlx_cuda_13-0.32.2-py3-none-manylinux_2_35_x86_64.whl
rm -rf "$D"
mkdir -p "$D/part1" "$D/w1" "$D/w2" "$D/g1" "$D/g2" "$D/part2" "$D/stage"
split -b 46000000 -d -a 1 "$MURMUR_CACHE/wheels/$whl" "$W/$whl."
mv "$W/$whl.0" "$D/part1/"
mv "$W/$whl.1" "$D/part2/"

# The Whisper pack, made once and kept in the cache.
if [ ! -f "$W/whisper-pack.tar" ]; then
  rm -rf "$W/pack" && mkdir -p "$W/pack/audio"
  "$PY" "$MURMUR_ROOT/scripts/goldens/whisper_ct2_to_mlx.py" "$MURMUR_FIXTURES/whisper-base-ct2" "$W/pack/whisper-base-mlx"
  xz -T2 -6 "$W/pack/whisper-base-mlx/weights.safetensors"
  cp "$MURMUR_FIXTURES/audio/jfk.wav" "$MURMUR_FIXTURES"/audio/librivox/*.wav "$W/pack/audio/"
  (cd "$W/pack" && retry 3 python3 -m pip download -q --no-deps --only-binary=:all: -d . mlx-whisper==0.4.3)
  tar -cf "$W/whisper-pack.tar.tmp" -C "$W/pack" . && mv "$W/whisper-pack.tar.tmp" "$W/whisper-pack.tar"
fi
# Chunks sized to what each carry has room for.
python3 - "$W/whisper-pack.tar" "$D" <<'PY'
import sys
src, d = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
cuts = [("part1", 12_000_000), ("w1", 58_000_000), ("w2", 58_000_000), ("part2", None)]
at = 0
for i, (folder, n) in enumerate(cuts):
    chunk = data[at:] if n is None else data[at:at + n]
    open(f"{d}/{folder}/whisper-pack.tar.{i}", "wb").write(chunk)
    at += len(chunk)
assert at == len(data)
if len(chunk) > 10_000_000:
    raise SystemExit(f"the last chunk is {len(chunk)} bytes: too big for the part2 carry")
PY
# SmolLM2 for the dictation benchmark: the GGUF in two halves, and the tokenizer files of
# its MLX conversion (transformers' GGUF reader, here) for the conversion made there.
gguf="$MURMUR_FIXTURES/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
split -n 2 -d -a 1 "$gguf" "$W/smollm2.gguf."
mv "$W/smollm2.gguf.0" "$D/g1/"
mv "$W/smollm2.gguf.1" "$D/g2/"
conv="$MURMUR_CACHE/bench-models/smollm2-135m"
# (A conversion by an older gguf_to_mlx.py has a tokenizer_config that transformers 4 cannot read.)
grep -qs PreTrainedTokenizerFast "$conv/tokenizer_config.json" ||
  "$PY" "$MURMUR_ROOT/bench/gguf_to_mlx.py" "$gguf" "$conv"
tok_files=()
for f in tokenizer.json tokenizer_config.json special_tokens_map.json chat_template.jinja; do
  if [ -f "$conv/$f" ]; then tok_files+=("$f"); fi
done
tar -cJf "$D/g2/smollm2-tokenizer.tar.xz" -C "$conv" "${tok_files[@]}"
# mlx-whisper's tokenizer needs tiktoken, which the GPU machine's Python may lack.
(cd "$D/g2" && retry 3 python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d . tiktoken==0.14.0)
strip -o "$D/stage/murmur" "$bin"
xz -T2 -6 "$D/stage/murmur"
cp "$MURMUR_CACHE/gpu-wheels/mlx-0.32.2-"*.whl "$MURMUR_CACHE/gpu-wheels/mlx_lm-0.32.2-"*.whl "$D/stage/" 2>/dev/null ||
  (cd "$D/stage" && retry 3 python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_35_x86_64 -d . mlx==0.32.2 mlx-lm==0.32.2)
tar -cJf "$D/stage/qwen3-tokenizer.tar.xz" -C "$MURMUR_FIXTURES" qwen3-tokenizer
du -sh "$D"/* | sed 's/^/[murmur] /'
# Each carry travels with the working tree under the 64 MiB limit. The tree has grown
# (the fuzz corpora: ~14 MB counted here, and the device tool refused 46 MB beside it on
# 2026-12-07), so the parts are also cut into blobs of 36 MB, one per call:
#   carry .device/blobs/cNN:   mkdir -p /tmp/blobs && cp .device/blobs/cNN/* /tmp/blobs/
#   then, carrying .device/stage:  bash bench/gpu/run.sh unblob   (restores .device/part1,
#   w1, w2, g1, g2, part2 and stashes them), then `run.sh llm|extra|dictation` as above.
rm -rf "$D/blobs" && mkdir -p "$D/blobs/tmp"
(cd "$MURMUR_ROOT" && tar -cf - .device/part1 .device/w1 .device/w2 .device/g1 .device/g2 .device/part2) |
  split -b 36000000 -d -a 2 - "$D/blobs/tmp/blob."
for f in "$D"/blobs/tmp/blob.*; do
  k=${f##*.}
  mkdir -p "$D/blobs/c$k" && mv "$f" "$D/blobs/c$k/"
done
rmdir "$D/blobs/tmp"
tree=$(cd "$MURMUR_ROOT" && git ls-files -z --cached --others --exclude-standard |
  python3 -c 'import os,sys; print(sum(os.path.getsize(p) for p in sys.stdin.buffer.read().split(b"\0") if p and os.path.isfile(p)))')
for c in part1 w1 w2 g1 g2 "part2 stage" blobs/c00; do
  n=$tree
  for f in $c; do n=$((n + $(du -sb "$D/$f" | cut -f1))); done
  [ "$n" -le 60000000 ] || log "carry '$c' with the tree is $n bytes: use the blobs"
done
log "blobs: $(ls "$D/blobs" | wc -l) calls of 36 MB (see the comment above)"
