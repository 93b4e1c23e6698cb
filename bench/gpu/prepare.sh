#!/usr/bin/env bash
# Stage what the GPU machine needs into .device/ (git-ignored), in two carries that
# each fit the device tool's 64 MiB limit:
#   .device/part1/  first half of the mlx-cuda-13 wheel
#   .device/part2/  second half, plus:
#   .device/stage/  the release `murmur` (built here against the CPU libmlx; same SONAME
#                   and headers as the CUDA one), the cp312 mlx + mlx-lm wheels, and the
#                   Qwen3 tokenizer (xz) for the benchmark models.
# Then, on the device (two consecutive calls while the machine is warm):
#   1. carry .device/part1:               bash bench/gpu/run.sh stash
#   2. carry .device/part2 .device/stage: bash bench/gpu/run.sh bench
source "$(dirname "$0")/../../scripts/lib.sh"
bash "$MURMUR_ROOT/scripts/setup-mlx.sh" --backend cuda
bash "$MURMUR_ROOT/scripts/fixtures.sh"
cargo build --release -q -p murmur-ffi --bin murmur
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys;print(json.load(sys.stdin)["target_directory"])')"
S="$MURMUR_ROOT/.device/stage"
rm -rf "$S"
mkdir -p "$S"
strip -o "$S/murmur" "$target/release/murmur"
(cd "$S" && retry 3 python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_35_x86_64 -d . mlx==0.32.2 mlx-lm==0.32.2)
tar -cJf "$S/qwen3-tokenizer.tar.xz" -C "$MURMUR_FIXTURES" qwen3-tokenizer
du -sh "$MURMUR_ROOT/.device"/* | sed 's/^/[murmur] /'
