#!/usr/bin/env bash
# The Python reference implementation (mlx-lm, mlx-whisper, transformers' chat templates)
# in a virtualenv in the cache, for the scripts that produce test goldens and for the
# benchmarks. Tests never need it: goldens are committed. Prints the venv's python path.
#   PY=$(scripts/py-venv.sh)
source "$(dirname "$0")/lib.sh"
V="$MURMUR_CACHE/venv-mlx-0.32.2"
# The same BLAS as Murmur's libmlx (lib.sh), so goldens and benchmark ratios compare like
# with like.
reference_blas() {
  mlx_use_blas "$("$1" -c 'import site; print(site.getsitepackages()[0])')/mlx/lib/libmlx.so"
}
python_venv "$V" reference_blas mlx==0.32.2 mlx-cpu==0.32.2 mlx-lm==0.32.2 mlx-whisper==0.4.3 mlx-lm-omni==0.1.3 \
  numpy jinja2 gguf==0.19.0
echo "$V/bin/python"
