#!/usr/bin/env python3
"""Tiny random-weight Qwen2.5-Omni thinkers, plus what mlx-lm-omni 0.1.3 (fixed) computes on them.

    PY=$(scripts/py-venv.sh); $PY scripts/goldens/omni.py

Writes tests/goldens/omni/<name>/: config.json and model.safetensors in the layout of the MLX
conversions mlx-lm-omni's README lists (giangndm/qwen2.5-omni-3b-mlx-8bit: `thinker.*` names,
MLX conv layout, `quantization` in config.json), and golden.json with the reference outputs on
10 s, 20 s and 40 s of real speech from the fixtures (`MURMUR_FIXTURES`, else
$MURMUR_CACHE/fixtures): each clip's log-mel statistics, the audio tower's output (in
features.safetensors), the logits of a prompt with the audio spliced in, and greedy tokens.

THE REFERENCE IS PATCHED BEFORE ANY GOLDEN IS TAKEN. mlx-lm-omni 0.1.3 is wrong in the ways the
seed (../shared/seeds/000-omni-transcript-phase2.md) lists and in a few more; each patch below
says which. Where the seed names a bug without its fix, the fix follows transformers'
Qwen2_5OmniAudioEncoder (transformers 5.25.0, modeling_qwen2_5_omni.py), the model's own
definition:
  1. AudioTower (seed bug 1, "reshape > 15 s"): the tower is rewritten on transformers' lines:
     mel split into chunks of n_window*2 frames, each convolved on its own and masked past its
     end, ceil(len/2) tokens kept per chunk, attention *within each chunk* (block-diagonal; 0.1.3
     attends across the whole recording), then stride-2 average pooling over the whole sequence.
     Its sinusoidal positions are computed in float32 (0.1.3 builds them in bfloat16).
  2. AudioMel (seed bug 2): float32 throughout (0.1.3 rounds the waveform, window and filters
     to float16); the tower is fed float32 mel (0.1.3 casts it to bfloat16).
  3. ExtendedEmbedding.to_quantized (seed bug 3): accepts the `mode` keyword mlx 0.32's
     nn.quantize passes.
  4. TokenizerWithAudio (seed bug 4): delegates unknown attributes to the wrapped tokenizer.
  5. Conv layout (seed bug 5): `sanitize` detects PyTorch's [out, in, k] layout of both convs
     and swaps it to MLX's [out, k, in] (0.1.3's AudioTower.update is never called by
     load_weights, and only looked at conv1).
  6. Prefill chunking (seed bug 6): the goldens run the prompt in one forward pass (0.1.3's
     embedding queue breaks when a prefill chunk boundary falls inside the audio).
  0. mlx-lm compatibility: 0.1.3 imports mlx_lm.utils.get_model_path, gone in mlx-lm 0.32.
Deterministic (fixed seeds) and idempotent: each folder is removed and written again.
"""

import copy
import json
import math
import os
import shutil
import sys
import wave
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map_with_path

import mlx_lm.utils as lm_utils
from mlx_lm.models.cache import make_prompt_cache

# Patch 0: 0.1.3 imports mlx_lm.utils.get_model_path, which mlx-lm 0.32 renamed; the goldens
# load local folders only.
lm_utils.get_model_path = lambda path, revision=None: Path(path)

import mlx_lm_omni  # noqa: E402
import mlx_lm_omni.models.qwen_omni.audio_tower as at
import mlx_lm_omni.models.qwen_omni.model as qo
from mlx_lm_omni.audio_mel import AudioMel, AudioMelConfig
from mlx_lm_omni.tokenizer import ExtendedEmbedding, ExtendedQuantizedEmbedding

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "goldens" / "omni"
FIXTURES = Path(os.environ.get("MURMUR_FIXTURES")
                or Path(os.environ.get("MURMUR_CACHE", "/var/cache/murmur")) / "fixtures")

VOCAB = 1024
AUDIO_TOKEN, AUDIO_START, AUDIO_END = 1000, 1001, 1002
GREEDY_TOKENS = 12

# (file, seconds to take from it); the files are joined and cut to the clip's length.
JFK = "audio/jfk.wav"
LIBRI = "audio/librivox/sense_and_sensibility_01_austen_64kb-0{}.wav"
CLIPS = {
    # 1027 and 2050 mel frames: a short odd last chunk, a short even one; 40 s fills every chunk.
    "10s": (10.27, [JFK]),
    "20s": (20.5, [JFK, LIBRI.format(870), LIBRI.format(880)]),
    "40s": (40.0, [JFK] + [LIBRI.format(n) for n in (870, 880, 890, 920, 930)] + [JFK]),
}


# ---------------------------------------------------------------------------------------------
# The patches (see the module docstring).


def sinusoids_f32(length, channels, max_timescale=10000):
    log_inc = math.log(max_timescale) / (channels // 2 - 1)
    inv = mx.exp(-log_inc * mx.arange(channels // 2, dtype=mx.float32))
    t = mx.arange(length, dtype=mx.float32)[:, None] * inv[None, :]
    return mx.concatenate([mx.sin(t), mx.cos(t)], axis=1)


def tower_init(self, cfg):
    original_tower_init(self, cfg)
    self._positional_embedding = sinusoids_f32(cfg.max_source_positions, cfg.d_model)


def tower_call(self, mel):
    """transformers' Qwen2_5OmniAudioEncoder.forward for one recording: mel [n_mels, T]."""
    n_mels, frames = mel.shape
    window = self.n_window * 2
    lengths = [min(window, frames - s) for s in range(0, frames, window)]
    chunks = mx.pad(mel, [(0, 0), (0, window * len(lengths) - frames)])
    chunks = chunks.reshape(n_mels, len(lengths), window).transpose(1, 2, 0)  # [C, window, n_mels]
    mask = (mx.arange(window)[None, :] < mx.array(lengths)[:, None])[..., None]
    x = nn.gelu(self.conv1(chunks)) * mask
    x = nn.gelu(self.conv2(x))  # [C, window/2, d]
    x = x + self._positional_embedding[: x.shape[1]][None]
    kept = [(n - 1) // 2 + 1 for n in lengths]
    x = mx.concatenate([x[c, :k] for c, k in enumerate(kept)], axis=0)[None]  # [1, S, d]
    # Attention within each chunk only (transformers' cu_seqlens).
    seg = np.repeat(np.arange(len(kept)), kept)
    attn_mask = mx.array(np.where(seg[:, None] == seg[None, :], 0.0, -np.inf).astype(np.float32))
    for block in self.layers:
        x, _, _ = block(x, mask=attn_mask)
    pairs = x.shape[1] // 2
    x = (x[:, 0 : 2 * pairs : 2] + x[:, 1 : 2 * pairs : 2]) / 2
    return self.proj(self.ln_post(x))


def mel_init(self, cfg):
    original_mel_init(self, cfg)
    self.mel_filters = AudioMel._AudioMel__get_mel_filters(
        cfg.sampling_rate, cfg.n_fft, n_mels=cfg.feature_size).astype(np.float32)


def mel_call(self, waveform):
    """0.1.3's AudioMel.__call__ in float32."""
    waveform = waveform.astype(np.float32)
    if waveform.shape[0] % self.hop_length:
        waveform = np.pad(waveform, (0, self.hop_length - waveform.shape[0] % self.hop_length))
    window = np.hanning(self.n_fft + 1)[:-1].astype(np.float32)
    stft = AudioMel._AudioMel__stft(waveform, self.n_fft, self.hop_length, window=window,
                                    return_complex=True).astype(np.complex64)
    magnitudes = np.abs(stft[..., :-1]) ** 2
    log_spec = np.log10(np.clip(self.mel_filters @ magnitudes, a_min=1e-10, a_max=None))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def to_quantized(self, group_size=64, bits=4, mode="affine", **_):
    assert mode == "affine"
    return ExtendedQuantizedEmbedding.from_embedding(self, group_size, bits)


def tokenizer_getattr(self, name):
    if name.startswith("__") or name == "_tokenizer":
        raise AttributeError(name)
    return getattr(self._tokenizer, name)


def sanitize(self, weights):
    out = {}
    for k, v in weights.items():
        if k.startswith(("talker.", "token2wav.", "thinker.visual.")):
            continue
        if k.endswith(("conv1.weight", "conv2.weight")) and v.ndim == 3 and v.shape[2] == 3 \
                and v.shape[1] != 3:
            v = mx.swapaxes(v, 1, 2)  # PyTorch [out, in, k] -> MLX [out, k, in]
        out[k] = v
    return out


original_tower_init = at.AudioTower.__init__
original_mel_init = AudioMel.__init__
at.AudioTower.__init__ = tower_init
at.AudioTower.__call__ = tower_call
AudioMel.__init__ = mel_init
AudioMel.__call__ = mel_call
ExtendedEmbedding.to_quantized = to_quantized
qo.TokenizerWithAudio.__getattr__ = tokenizer_getattr
qo.Model.sanitize = sanitize


# ---------------------------------------------------------------------------------------------
# The model.


def config():
    """A Qwen2.5-Omni config.json with the keys of Qwen/Qwen2.5-Omni-3B's, scaled down."""
    return {
        "architectures": ["Qwen2_5OmniModel"],
        "model_type": "qwen2_5_omni",
        "enable_audio_output": False,
        "torch_dtype": "float32",
        "thinker_config": {
            "model_type": "qwen2_5_omni_thinker",
            "audio_token_index": AUDIO_TOKEN,
            "audio_start_token_id": AUDIO_START,
            "audio_end_token_id": AUDIO_END,
            "image_token_index": 1003,
            "video_token_index": 1004,
            "position_id_per_seconds": 25,
            "seconds_per_chunk": 2,
            "user_token_id": 872 % VOCAB,
            "audio_config": {
                "model_type": "qwen2_5_omni_audio_encoder",
                "activation_function": "gelu",
                "d_model": 64,
                "encoder_attention_heads": 4,
                "encoder_ffn_dim": 256,
                "encoder_layers": 2,
                "max_source_positions": 1500,
                "n_window": 100,
                "num_mel_bins": 128,
                "output_dim": 128,
                "scale_embedding": False,
            },
            "text_config": {
                "model_type": "qwen2_5_omni_text",
                "hidden_act": "silu",
                "hidden_size": 128,
                "intermediate_size": 256,
                "max_position_embeddings": 32768,
                "num_attention_heads": 4,
                "num_hidden_layers": 2,
                "num_key_value_heads": 2,
                "rms_norm_eps": 1e-6,
                "rope_scaling": {"mrope_section": [4, 6, 6], "rope_type": "default",
                                 "type": "default"},
                "rope_theta": 1000000.0,
                "sliding_window": 32768,
                "use_sliding_window": False,
                "tie_word_embeddings": False,
                "vocab_size": VOCAB,
            },
        },
    }


def randomize(model):
    """mlx's default init re-scaled so the goldens are sensitive (as llm_models.py does): random
    norm scales and biases, layers dominating the residual stream, logits spread over units."""
    def f(path, v):
        if path.endswith(("norm.weight", "layer_norm.weight", "ln_post.weight")):
            scale = 1.0 + 0.2 * mx.random.normal(v.shape)
            return scale * 5.0 if path == "thinker.model.norm.weight" else scale
        if path.endswith(".bias"):
            return (0.02 if "v_proj" in path else 0.1) * mx.random.normal(v.shape)
        if path.endswith(("o_proj.weight", "down_proj.weight")):
            return 4.0 * v
        return v
    model.update(tree_map_with_path(f, model.parameters()))


def build(seed, bits=None):
    cfg = config()
    mx.random.seed(seed)
    model = qo.Model(qo.ModelArgs.from_dict(copy.deepcopy(cfg)))
    randomize(model)
    if bits:
        model, cfg = lm_utils.quantize_model(model, cfg, 64, bits)
    mx.eval(model.parameters())
    return model, cfg


def save(model, cfg, path):
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(path / "model.safetensors"), weights, metadata={"format": "mlx"})
    (path / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def reload(path):
    model, cfg = lm_utils.load_model(path, strict=False, get_model_classes=mlx_lm_omni.utils.get_model_classes)
    return model


# ---------------------------------------------------------------------------------------------
# Reference outputs.


def read_wav(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def clip(name):
    seconds, files = CLIPS[name]
    audio = np.concatenate([read_wav(FIXTURES / f) for f in files])
    n = int(seconds * 16000)
    assert audio.shape[0] >= n, (name, audio.shape)
    return audio[:n]


def f32list(a):
    return [float(x) for x in np.array(a.astype(mx.float32)).reshape(-1)]


def prompt(n_audio):
    """Text ids, the audio (n_audio placeholder ids, as the chat template's expanded
    <|AUDIO|>), more text ids; the placeholders are what ExtendedEmbedding splices over."""
    before = [17, 404, 9, 71, AUDIO_START]
    after = [AUDIO_END, 233, 511, 88, 640, 5, 901]
    return before, after


def golden_for(model, name):
    audio = clip(name)
    mel = AudioMel(AudioMelConfig.from_dict({"feature_size": 128, "sampling_rate": 16000,
                                             "hop_length": 160, "n_fft": 400}))(audio)
    features = model.thinker.audio_tower(mx.array(mel))  # [1, N, hidden]
    mx.eval(features)
    n_audio = features.shape[1]
    before, after = prompt(n_audio)
    embed = model.thinker.model.embed_tokens
    embed.extended_embedding_queue = [features]
    ext = [embed.extended_embedding_seed] * n_audio
    ids = before + ext + after
    cache = make_prompt_cache(model.thinker)
    logits = model.thinker(mx.array(ids)[None], cache=cache)[0]
    mx.eval(logits)
    assert not embed.extended_embedding_queue
    greedy = []
    nxt = int(mx.argmax(logits[-1]))
    for _ in range(GREEDY_TOKENS):
        greedy.append(nxt)
        step = model.thinker(mx.array([[nxt]]), cache=cache)[0]
        nxt = int(mx.argmax(step[-1]))
    rows = np.linspace(0, mel.shape[1] - 1, 16).astype(int).tolist()
    cols = np.linspace(0, 127, 8).astype(int).tolist()
    return features[0], {
        "seconds": CLIPS[name][0],
        "files": CLIPS[name][1],
        "samples": int(audio.shape[0]),
        "sample_sum": float(np.sum(audio, dtype=np.float64)),
        "mel_frames": int(mel.shape[1]),
        "mel_sum": float(np.sum(mel, dtype=np.float64)),
        "mel_max": float(mel.max()),
        "mel_probe": {"frames": rows, "bins": cols,
                      "values": [[float(mel[c, r]) for c in cols] for r in rows]},
        "audio_tokens": n_audio,
        "prompt_before": before,
        "prompt_after": after,
        "logits_last": f32list(logits[-1]),
        "argmax_all": [int(i) for i in np.array(mx.argmax(logits, axis=-1))],
        "greedy_ids": greedy,
    }


def write(name, seed, bits=None):
    path = OUT / name
    model, cfg = build(seed, bits)
    if not bits:
        # Stored in bfloat16, as Qwen's checkpoints are (and small enough to commit); the
        # reference then runs on those weights cast to float32, as Murmur runs on the CPU.
        cfg["torch_dtype"] = "bfloat16"
        model.update(tree_map_with_path(lambda _, v: v.astype(mx.bfloat16), model.parameters()))
    save(model, cfg, path)
    model = reload(path)
    model.update(tree_map_with_path(
        lambda _, v: v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating) else v,
        model.parameters()))
    features, clips = {}, {}
    for clip_name in CLIPS:
        feats, g = golden_for(model, clip_name)
        features[clip_name] = feats
        clips[clip_name] = g
        print(f"{name}/{clip_name}: {g['mel_frames']} mel frames -> {g['audio_tokens']} audio "
              f"tokens; greedy {g['greedy_ids']}; {len(set(g['argmax_all']))} distinct argmaxes", file=sys.stderr)
    mx.save_safetensors(str(path / "features.safetensors"), features)
    golden = {
        "reference": "mlx-lm-omni 0.1.3 with the patches in scripts/goldens/omni.py",
        "versions": {"mlx": mx.__version__, "mlx_lm_omni": "0.1.3"},
        "seed": seed,
        "bits": bits,
        "clips": clips,
    }
    (path / "golden.json").write_text(json.dumps(golden) + "\n")


# ---------------------------------------------------------------------------------------------
# The exact Qwen2.5-Omni-3B configuration. Its 4.0 billion weights (16 GB as float32) are not
# stored anywhere: both this script and tests/omni_3b.rs compute them from their names with the
# same counter-based generator (splitmix64 of FNV-1a(name) + index, top 24 bits -> [-1, 1) in
# float32), bit for bit.

MASK = (1 << 64) - 1


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def det_uniform(name, shape, scale):
    """scale * u, u uniform in [-1, 1): float32 values, generated in pieces."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float32)
    base = np.uint64(fnv1a(name))
    step = 1 << 24
    with np.errstate(over="ignore"):
        for start in range(0, n, step):
            x = base + np.arange(start, min(n, start + step), dtype=np.uint64)
            z = x + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -23) - np.float32(1.0)
            out[start : start + len(x)] = u * np.float32(scale)
    return out.reshape(shape)


def weight_scale(name, shape):
    """(scale, offset) of tensor `name`: the value is offset + scale * u."""
    if name.endswith(("norm.weight", "layer_norm.weight", "ln_post.weight")):
        return 0.2, 1.0
    if name.endswith(".bias"):
        return 0.1, 0.0
    if name.endswith("embed_tokens.weight"):
        return 0.05, 0.0
    if name.endswith(("conv1.weight", "conv2.weight")):
        return 1.0 / math.sqrt(shape[1] * shape[2]), 0.0
    return 1.0 / math.sqrt(shape[-1]), 0.0  # linear layers [out, in]


def config_3b():
    """Qwen/Qwen2.5-Omni-3B's thinker: 32 audio layers of width 1280 (20 heads), 36 text layers
    of width 2048 (16 heads of 128, 2 KV heads), vocabulary 151936."""
    c = config()
    t = c["thinker_config"]
    t.update({"audio_token_index": 151646, "audio_start_token_id": 151647,
              "audio_end_token_id": 151648, "image_token_index": 151655,
              "video_token_index": 151656, "user_token_id": 872})
    t["audio_config"].update({"d_model": 1280, "encoder_attention_heads": 20,
                              "encoder_ffn_dim": 5120, "encoder_layers": 32, "output_dim": 2048})
    t["text_config"].update({"hidden_size": 2048, "intermediate_size": 11008,
                             "num_attention_heads": 16, "num_hidden_layers": 36,
                             "num_key_value_heads": 2, "vocab_size": 151936,
                             "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default",
                                              "type": "default"}})
    return c


def write_3b():
    from mlx.utils import tree_unflatten
    cfg = config_3b()
    model = qo.Model(qo.ModelArgs.from_dict(copy.deepcopy(cfg)))
    # The init's random arrays are lazy and never evaluated: every parameter is replaced.
    shapes = {k: v.shape for k, v in tree_flatten(model.parameters())}
    params = []
    for name in sorted(shapes):
        scale, offset = weight_scale(name, shapes[name])
        values = det_uniform(name, shapes[name], scale)
        if offset:
            values += np.float32(offset)
        params.append((name, mx.array(values)))
        del values
    model.update(tree_unflatten(params))
    del params
    mx.eval(model.parameters())
    clips = {}
    for clip_name in CLIPS:
        _, g = golden_for(model, clip_name)
        last = np.array(g.pop("logits_last"), dtype=np.float64)
        top = np.argsort(-last, kind="stable")[:64]
        g["logits_top64"] = {"ids": [int(i) for i in top], "values": [float(last[i]) for i in top]}
        g["logits_stats"] = {"mean": float(last.mean()), "std": float(last.std()),
                             "logsumexp": float(np.log(np.exp(last - last.max()).sum()) + last.max())}
        clips[clip_name] = g
        print(f"3b/{clip_name}: {g['audio_tokens']} audio tokens; greedy {g['greedy_ids']}",
              file=sys.stderr)
    path = OUT / "3b"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    golden = {
        "reference": "mlx-lm-omni 0.1.3 with the patches in scripts/goldens/omni.py",
        "versions": {"mlx": mx.__version__, "mlx_lm_omni": "0.1.3"},
        "weights": "generated: see det_uniform and weight_scale in scripts/goldens/omni.py",
        "clips": clips,
    }
    (path / "golden.json").write_text(json.dumps(golden) + "\n")


def main():
    if sys.argv[1:] == ["3b"]:
        write_3b()  # ~16 GB of memory, several minutes
        return
    write("tiny", seed=7)
    write("tiny-8bit", seed=8, bits=8)


if __name__ == "__main__":
    main()
