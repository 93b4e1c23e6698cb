"""Goldens for the voice-activity detector (core/src/vad), from Silero VAD 6.2.3 (the
`silero-vad` wheel that scripts/fixtures.sh unpacks into $MURMUR_FIXTURES/silero-vad),
written to tests/goldens/vad/<name>.json:

- `probabilities`: the speech probability of every 512-sample chunk of the input, from a
  float64 numpy transcription of the wheel's `tinygrad_model.py` run on its
  `silero_vad_16k.safetensors` (the weights Murmur embeds), chunk by chunk with 64
  samples of context and the LSTM state carried over, the last chunk zero-padded, as
  the wheel's `get_speech_timestamps` feeds the model;
- `timestamps`: what the wheel's own `get_speech_timestamps_from_probs` makes of those
  probabilities, for the default options and for a dictation-like set;
- `onnx`: the check of the numpy transcription against onnxruntime. The wheel's ONNX and
  TorchScript models (v6.2, what `load_silero_vad()` runs) hold *other* weights than its
  safetensors file (same architecture and STFT basis, different trained values: no ONNX
  or JIT model of silero-vad 5.1.2 to 6.2.3 has them). So the numpy code is run on the
  weights of `silero_vad_16k_sequence.onnx` and must match `silero_vad.onnx` on
  onnxruntime, fed as the wheel's `OnnxWrapper` feeds it, within 1e-5
  (`architecture_max_abs_diff`); `checkpoint_max_abs_diff` and `regions` record how far
  the ONNX model's own probabilities and default regions are from the safetensors ones;
- `weights_sha256`, `samples`, `input`, `versions`.

Inputs (16 kHz floats, int16 / 32768): `jfk` (jfk.wav), `librivox_0870` (one LibriVox
clip), `noise` (alsa Noise.wav, 48 kHz, decimated by 3 as the wheel itself does for
multiples of 16 kHz: `x[::3]`) and `pauses` (jfk, 5 s of zeros, clip 0870, 5 s of
zeros, clip 0890).

    python3 -m venv /tmp/vad-venv && /tmp/vad-venv/bin/pip install numpy==2.4.6 \
        onnxruntime==1.32.0 onnx==1.23.2 packaging
    /tmp/vad-venv/bin/python scripts/goldens/silero_vad.py

No torch: `utils_vad.py` imports it at the top for its audio helpers, but the policy
function is plain Python, so it is imported beside a stand-in module. Deterministic:
running it twice gives identical files (~10 s on 2 cores).
"""
import hashlib
import importlib.util
import json
import os
import sys
import types
import wave

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "goldens", "vad")
FIX = os.environ.get("MURMUR_FIXTURES", "/var/cache/murmur/fixtures")
WHEEL = os.path.join(FIX, "silero-vad")
WEIGHTS = os.path.join(WHEEL, "silero_vad_16k.safetensors")
EMBEDDED = os.path.join(ROOT, "core", "assets", "silero_vad_16k.safetensors")

CHUNK = 512
CONTEXT = 64
RATE = 16000
# Murmur's dictation settings, to exercise more than the defaults (see core/src/vad).
DICTATION = {"min_silence_duration_ms": 2000, "speech_pad_ms": 200, "min_speech_duration_ms": 250}


def read_wav(path, decimate=1):
    w = wave.open(path)
    assert w.getsampwidth() == 2, path
    x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    x = x.reshape(-1, w.getnchannels()).mean(axis=1, dtype=np.float32)
    assert w.getframerate() == RATE * decimate, path
    return x[::decimate]


def load_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = int.from_bytes(b[:8], "little")
    header = json.loads(b[8 : 8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + lo : 8 + n + hi], "<f4").reshape(t["shape"]).astype(np.float64)
    return out


def conv1d(x, w, b, stride=1, pad=0):
    """x [N, C_in, L], w [C_out, C_in, K] -> [N, C_out, L_out] (PyTorch's Conv1d)."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    k = w.shape[2]
    l_out = (x.shape[2] - k) // stride + 1
    cols = np.stack([x[:, :, t * stride : t * stride + k] for t in range(l_out)], axis=1)  # N, L, C, K
    y = np.einsum("nlck,ock->nol", cols, w)
    return y if b is None else y + b[None, :, None]


def windows(pcm):
    """Each chunk with its context, reflect-padded on the right: [N, 640]."""
    n = -(-len(pcm) // CHUNK)
    x = np.zeros(CONTEXT + n * CHUNK, np.float64)
    x[CONTEXT : CONTEXT + len(pcm)] = pcm
    win = np.stack([x[i * CHUNK : i * CHUNK + CONTEXT + CHUNK] for i in range(n)]) if n else np.zeros((0, 576))
    return np.pad(win, ((0, 0), (0, CONTEXT)), mode="reflect") if n else np.zeros((0, 640))


def numpy_probabilities(w, pcm):
    """tinygrad_model.py, transcribed: the encoder over all chunks at once (chunks depend
    on each other only through the LSTM state), then the LSTM cell chunk by chunk."""
    x = windows(pcm)[:, None, :]
    x = conv1d(x, w["stft_conv.weight"], None, stride=128)
    x = np.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = relu(conv1d(x, w["conv1.weight"], w["conv1.bias"], 1, 1))
    x = relu(conv1d(x, w["conv2.weight"], w["conv2.bias"], 2, 1))
    x = relu(conv1d(x, w["conv3.weight"], w["conv3.bias"], 2, 1))
    x = relu(conv1d(x, w["conv4.weight"], w["conv4.bias"], 1, 1))[:, :, 0]  # N, 128
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    h = np.zeros(128)
    c = np.zeros(128)
    out = []
    for t in range(x.shape[0]):
        g = w["lstm_cell.weight_ih"] @ x[t] + w["lstm_cell.bias_ih"] + w["lstm_cell.weight_hh"] @ h + w["lstm_cell.bias_hh"]
        i, f, gg, o = sig(g[:128]), sig(g[128:256]), np.tanh(g[256:384]), sig(g[384:])
        c = f * c + i * gg
        h = o * np.tanh(c)
        y = sig(w["final_conv.weight"][0, :, 0] @ relu(h) + w["final_conv.bias"][0])
        out.append(float(y))
    return out


def onnx_probabilities(pcm):
    """The wheel's ONNX model, fed as its OnnxWrapper feeds it (context + chunk, state)."""
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = opts.intra_op_num_threads = 1
    s = onnxruntime.InferenceSession(os.path.join(WHEEL, "silero_vad.onnx"), sess_options=opts)
    state = np.zeros((2, 1, 128), np.float32)
    sr = np.array(RATE, np.int64)
    x = np.zeros(CONTEXT + -(-len(pcm) // CHUNK) * CHUNK, np.float32)
    x[CONTEXT : CONTEXT + len(pcm)] = pcm
    out = []
    for i in range(0, len(x) - CONTEXT, CHUNK):
        p, state = s.run(None, {"input": x[None, i : i + CONTEXT + CHUNK], "state": state, "sr": sr})
        out.append(float(p[0, 0]))
    return out


def onnx_weights():
    """The ONNX model's weights under the safetensors names: its LSTM packs the gates
    i, o, f, c and one bias of both halves; PyTorch's LSTMCell takes i, f, g(=c), o."""
    m = onnx.load(os.path.join(WHEEL, "silero_vad_16k_sequence.onnx"))
    t = {i.name: onnx.numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}

    def gates(x):
        i, o, f, c = np.split(x, 4)
        return np.concatenate([i, f, c, o])

    w = {"stft_conv.weight": t["stft.forward_basis_buffer"]}
    for k in range(4):
        w[f"conv{k + 1}.weight"] = t[f"encoder.{k}.weight"]
        w[f"conv{k + 1}.bias"] = t[f"encoder.{k}.bias"]
    w["lstm_cell.weight_ih"] = gates(t["onnx::LSTM_209"][0])
    w["lstm_cell.weight_hh"] = gates(t["onnx::LSTM_210"][0])
    w["lstm_cell.bias_ih"] = gates(t["onnx::LSTM_211"][0][:512])
    w["lstm_cell.bias_hh"] = gates(t["onnx::LSTM_211"][0][512:])
    w["final_conv.weight"] = t["output.weight"]
    w["final_conv.bias"] = t["output.bias"]
    return w


def reference_policy():
    """`get_speech_timestamps_from_probs` from the wheel's utils_vad.py."""
    stub = types.ModuleType("torch")
    stub.Tensor = object
    stub.device = lambda *a, **k: None
    stub.no_grad = lambda: (lambda f: f)
    sys.modules.setdefault("torch", stub)
    spec = importlib.util.spec_from_file_location("silero_utils_vad", os.path.join(WHEEL, "utils_vad.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_speech_timestamps_from_probs


def inputs():
    audio = os.path.join(FIX, "audio")
    jfk = read_wav(os.path.join(audio, "jfk.wav"))
    lib = os.path.join(audio, "librivox", "sense_and_sensibility_01_austen_64kb-0%d.wav")
    c870, c890 = read_wav(lib % 870), read_wav(lib % 890)
    pause = np.zeros(5 * RATE, np.float32)
    return {
        "jfk": ("audio/jfk.wav", jfk),
        "librivox_0870": ("audio/librivox/sense_and_sensibility_01_austen_64kb-0870.wav", c870),
        "noise": ("audio/alsa/Noise.wav, channels averaged, every 3rd sample", read_wav(os.path.join(audio, "alsa", "Noise.wav"), 3)),
        "pauses": ("jfk.wav + 5 s zeros + librivox 0870 + 5 s zeros + librivox 0890", np.concatenate([jfk, pause, c870, pause, c890])),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    sha = hashlib.sha256(open(WEIGHTS, "rb").read()).hexdigest()
    if os.path.exists(EMBEDDED):
        assert hashlib.sha256(open(EMBEDDED, "rb").read()).hexdigest() == sha, "core/assets differs from the wheel"
    w, w_onnx = load_safetensors(WEIGHTS), onnx_weights()
    policy = reference_policy()
    maxdiff = lambda a, b: float(np.max(np.abs(np.array(a) - np.array(b)))) if a else 0.0  # noqa: E731
    for name, (what, pcm) in inputs().items():
        probs = numpy_probabilities(w, pcm.astype(np.float64))
        onnx_probs = onnx_probabilities(pcm)
        arch = maxdiff(numpy_probabilities(w_onnx, pcm.astype(np.float64)), onnx_probs)
        assert arch < 1e-5, f"{name}: numpy and onnxruntime differ by {arch} on the same weights"
        timestamps = []
        for opts in ({}, DICTATION):
            regions = policy(probs, audio_length_samples=len(pcm), **opts)
            timestamps.append({"options": opts, "regions": [[int(r["start"]), int(r["end"])] for r in regions]})
        onnx_regions = policy(onnx_probs, audio_length_samples=len(pcm))
        doc = {
            "input": what,
            "samples": len(pcm),
            "probabilities": [round(p, 6) for p in probs],
            "timestamps": timestamps,
            "onnx": {
                "architecture_max_abs_diff": float(f"{arch:.2g}"),
                "checkpoint_max_abs_diff": round(maxdiff(probs, onnx_probs), 3),
                "regions": [[int(r["start"]), int(r["end"])] for r in onnx_regions],
            },
            "weights_sha256": sha,
            "versions": {
                "silero_vad": "6.2.3",
                "onnxruntime": onnxruntime.__version__,
                "onnx": onnx.__version__,
                "numpy": np.__version__,
            },
        }
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(name, len(probs), "chunks", json.dumps({k: v for k, v in doc.items() if k in ("timestamps", "onnx")}), flush=True)


if __name__ == "__main__":
    main()
