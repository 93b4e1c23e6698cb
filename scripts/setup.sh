#!/usr/bin/env bash
# Everything a fresh machine needs before building or testing: MLX for mlx-rs (Linux)
# and the real fixtures. Idempotent; seconds when everything is already in the cache.
source "$(dirname "$0")/lib.sh"
bash "$MURMUR_ROOT/scripts/setup-mlx.sh" "$@"
bash "$MURMUR_ROOT/scripts/fixtures.sh"
