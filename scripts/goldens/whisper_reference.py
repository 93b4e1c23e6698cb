"""Goldens for the Whisper tests, from mlx-whisper 0.4.3 (the reference implementation)
on mlx 0.32.2, written to tests/goldens/whisper/:

- mel_<name>_<n_mels>.npy: `mlx_whisper.audio.log_mel_spectrogram(samples, n_mels)`
  (float32, [frames, n_mels]) of real speech given as 16 kHz float samples;
- transcripts.json: `mlx_whisper.transcribe` of the real clips with the Whisper base
  fixture converted to the mlx-community layout (whisper_ct2_to_mlx.py), in float32
  (`fp16=False`: what Murmur computes in on MLX's CPU backend) with otherwise default
  options (temperature fallback, timestamps) unless stated: text, language, segments
  (start, end, tokens); `jfk_fp16` is mlx-whisper's default half precision, for
  Murmur's `--fp16` path.

    PY=$(scripts/py-venv.sh)
    $PY scripts/goldens/whisper_reference.py            # all (~3 min on 2 cores)
    $PY scripts/goldens/whisper_reference.py mel        # only the spectrograms (seconds)

Deterministic: greedy decoding, fixed inputs; running it twice gives identical files.
"""
import json
import os
import sys
import tempfile
import wave

import mlx.core as mx
import mlx_whisper
import numpy as np
from mlx_whisper.audio import log_mel_spectrogram
from mlx_whisper.transcribe import ModelHolder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "goldens", "whisper")
FIX = os.environ.get("MURMUR_FIXTURES", "/var/cache/murmur/fixtures")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from whisper_ct2_to_mlx import convert  # noqa: E402


def wav16k(path):
    w = wave.open(path)
    assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
    return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def raw16k(path):
    return np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0


def mels():
    inputs = {
        "jfk4s": wav16k(os.path.join(FIX, "audio/jfk.wav"))[: 4 * 16000],
        "goforward": raw16k(os.path.join(FIX, "audio/goforward.raw")),
    }
    for name, samples in inputs.items():
        for n_mels in (80, 128):
            mel = np.array(log_mel_spectrogram(mx.array(samples), n_mels=n_mels), dtype=np.float32)
            np.save(os.path.join(OUT, f"mel_{name}_{n_mels}.npy"), mel)
            print(name, n_mels, mel.shape, flush=True)


def transcripts():
    model_dir = os.path.join(tempfile.gettempdir(), "murmur-whisper-base-mlx")
    convert(os.path.join(FIX, "whisper-base-ct2"), model_dir)
    jfk = wav16k(os.path.join(FIX, "audio/jfk.wav"))
    cases = {
        "jfk": (jfk, {"fp16": False}),
        "jfk_fp16": (jfk, {"fp16": True}),
        "jfk_without_timestamps": (
            jfk,
            {"language": "en", "without_timestamps": True, "fp16": False},
        ),
    }
    lib = os.path.join(FIX, "audio/librivox")
    for f in sorted(os.listdir(lib)):
        if f.endswith(".wav"):
            cases[f[:-4]] = (wav16k(os.path.join(lib, f)), {"language": "en", "fp16": False})
    out = {}
    for name, (samples, kw) in cases.items():
        # mlx-whisper caches the loaded model by path only, whatever its dtype: drop it so
        # each case gets the precision it asks for.
        ModelHolder.model = ModelHolder.model_path = None
        r = mlx_whisper.transcribe(samples, path_or_hf_repo=model_dir, **kw)
        out[name] = {
            "options": kw,
            "text": r["text"],
            "language": r["language"],
            "segments": [
                {"start": round(s["start"], 3), "end": round(s["end"], 3), "tokens": s["tokens"]}
                for s in r["segments"]
            ],
        }
        print(name, json.dumps(r["text"]), flush=True)
    out["_versions"] = {"mlx": mx.__version__, "mlx_whisper": "0.4.3"}
    with open(os.path.join(OUT, "transcripts.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    what = sys.argv[1:] or ["mel", "transcripts"]
    if "mel" in what:
        mels()
    if "transcripts" in what:
        transcripts()
