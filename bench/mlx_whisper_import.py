"""Import mlx-whisper where numba or scipy is missing (the GPU machine's Python).

mlx-whisper imports numba (its DTW) and scipy (a median filter) only for word-level
timestamps, which stay off in the benchmarks on both sides. Where either is missing,
stand-ins are registered while mlx-whisper is imported and removed right after, so
other packages' checks (transformers calls `importlib.util.find_spec("scipy")`, which
fails on a module without a spec) still see them as not installed.
"""
import importlib
import sys
import types


def import_mlx_whisper():
    added = []
    for name in ("numba", "scipy", "scipy.signal"):
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    if "numba" in added:
        sys.modules["numba"].jit = lambda *a, **k: (lambda f: f)
    if "scipy" in added:
        sys.modules["scipy"].signal = sys.modules["scipy.signal"]
    try:
        import mlx_whisper
        import mlx_whisper.load_models  # noqa: F401
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return mlx_whisper
