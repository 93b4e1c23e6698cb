#!/usr/bin/env python3
"""The Python side of Murmur's Whisper benchmark: mlx-whisper 0.4.3 measured exactly as
`murmur bench --audio` measures Murmur (core/src/bench.rs `bench_whisper`).

    python bench/bench_mlx_whisper.py --model DIR --audio A.wav [B.wav ...] [--reps 3]

- load: `mlx_whisper.load_models.load_model` (weights materialized) wall time.
- per audio file: the file decoded to 16 kHz mono float32 beforehand (16-bit PCM WAV,
  read with the standard library, so no ffmpeg is needed), one first transcription, then
  the median wall time of --reps more, default options (language detection, timestamps,
  temperature fallback) — `mlx_whisper.transcribe(audio, path_or_hf_repo=DIR)`, whose
  model cache keeps the loaded model between calls, as Murmur's does.
- memory: MLX active memory after load, peak over the transcriptions.

mlx-whisper imports numba and scipy only for word-level timestamps (its DTW and median
filter); where they are not installed (the GPU machine), stand-ins are registered, which
are never called because word timestamps stay off on both sides.
"""
import argparse
import json
import os
import statistics
import sys
import time
import wave


def load_wav_16k_mono(path):
    import numpy as np
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{path}: only 16-bit PCM WAV is supported")
        rate, ch = w.getframerate(), w.getnchannels()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    x = x.reshape(-1, ch).mean(axis=1)
    if rate != 16000:
        raise SystemExit(f"{path}: {rate} Hz; the benchmark audio is 16 kHz")
    return x


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--audio", nargs="+", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()
    from mlx_whisper_import import import_mlx_whisper

    mlx_whisper = import_mlx_whisper()
    import mlx.core as mx
    from mlx_whisper.load_models import load_model

    # The package re-exports the function under the module's name; reach the module.
    ModelHolder = sys.modules["mlx_whisper.transcribe"].ModelHolder

    t = time.perf_counter()
    model = load_model(args.model, dtype=mx.float16)
    mx.eval(model.parameters())
    load_s = time.perf_counter() - t
    # Hand the loaded model to mlx_whisper.transcribe's cache so no call reloads it.
    ModelHolder.model, ModelHolder.model_path = model, args.model
    active = mx.get_active_memory()
    mx.reset_peak_memory()
    audio = {}
    for path in args.audio:
        x = load_wav_16k_mono(path)

        def run():
            t = time.perf_counter()
            out = mlx_whisper.transcribe(x, path_or_hf_repo=args.model)
            return time.perf_counter() - t, out

        first, out = run()
        warm = statistics.median(run()[0] for _ in range(max(1, args.reps)))
        secs = len(x) / 16000
        audio[os.path.basename(path)] = {
            "audio_s": secs, "first_s": first, "transcribe_s": warm,
            "realtime_factor": secs / warm, "segments": len(out["segments"]), "text": out["text"],
        }
    out = {
        "impl": "mlx-whisper", "device": str(mx.default_device()), "load_s": load_s, "audio": audio,
        "active_memory_bytes": active, "peak_memory_bytes": mx.get_peak_memory(),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
