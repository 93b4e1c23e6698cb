#!/usr/bin/env python3
"""GGUF block-format goldens and a tiny mixed-quantization llama GGUF, with references.

    PY=$(scripts/py-venv.sh); $PY scripts/goldens/gguf_quants.py

Writes tests/goldens/gguf/:
  blocks.json           -- per GGML type: a few blocks of random bytes (scale fields set from
                           sane float values, so no inf/NaN) and their dequantized f32 values
                           from the `gguf` package (gguf-py, mirroring llama.cpp's
                           dequantize_row_*; Q8_K, which gguf-py lacks, as ggml: y = d*q).
  tiny-llama/model.gguf -- a 2-layer llama (hidden 256) written with gguf-py's GGUFWriter, llama.cpp
                           tensor names, a minimal GPT-2 style vocabulary, and tensors of mixed
                           types (Q4_K, Q5_K, Q6_K, Q3_K, Q2_K, Q5_0, Q5_1, Q4_0, Q4_1, Q8_0, F16, F32).
  tiny-llama/golden.json -- mlx-lm's logits on that model, two ways:
                           "loaded": the MLX arrays Murmur's loader is specified to build
                           (Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K repacked as affine 4/5/8-bit group 32;
                           Q2_K/Q3_K/Q6_K dequantized, rounded to f16 and re-quantized with mx.quantize
                           to 8-bit group 32; F16/F32 as is);
                           "float": the file's dequantized weights in float32.

Deterministic (fixed seeds) and idempotent. The mlx-community folders the references are computed
from are written to a temporary directory (they are not needed by the tests).
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

import gguf
import mlx.core as mx
import numpy as np
from gguf import GGMLQuantizationType as T
from mlx.utils import tree_flatten

import mlx_lm
import mlx_lm.utils as lm_utils

sys.path.insert(0, str(Path(__file__).resolve().parent))
import llm_models  # noqa: E402  (randomize, forward, greedy helpers of the other goldens)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "goldens" / "gguf"
REQUANT_BITS, GROUP = 8, 32
TOL_LOADED, TOL_FLOAT = 1e-3, 0.02

# -------------------------------------------------------------------------------------------------
# Block goldens

# Byte offsets of the f16 scale fields of each block format (Q8_K's d is f32 at 0).
SCALE_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}
BLOCK_TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K,
               T.Q8_K]
# Scale values per block: ordinary, negative, zero, and an f16 subnormal.
SCALES = [0.0123, -0.5, 0.0, 3.0e-6]


def dequantize_q8_k(blocks):
    d = blocks[:, :4].copy().view(np.float32)
    q = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(-1)


def block_goldens(rng):
    out = []
    for ty in BLOCK_TYPES:
        per_block, nbytes = gguf.GGML_QUANT_SIZES[ty]
        blocks = rng.integers(0, 256, size=(len(SCALES), nbytes), dtype=np.uint8)
        for b, s in zip(blocks, SCALES):
            if ty == T.Q8_K:
                b[0:4] = np.frombuffer(np.float32(s).tobytes(), np.uint8)
                continue
            for k, off in enumerate(SCALE_FIELDS[ty]):
                # A second field (min/dmin or m) gets another sane value.
                v = s if k == 0 else 0.75 * s - 0.001
                b[off:off + 2] = np.frombuffer(np.float16(v).tobytes(), np.uint8)
        if ty == T.Q8_K:
            values = dequantize_q8_k(blocks)
        else:
            values = gguf.quants.dequantize(blocks.reshape(-1), ty).reshape(-1)
        assert values.dtype == np.float32 and np.isfinite(values).all(), ty.name
        out.append({
            "type": ty.name,
            "block_elements": per_block,
            "block_bytes": nbytes,
            "bytes_hex": blocks.tobytes().hex(),
            "values": [float(v) for v in values],
        })
    return out


# -------------------------------------------------------------------------------------------------
# Simple k-quant quantizers (not llama.cpp's optimizing ones: any valid encoding does, since every
# reference is computed from the file's own dequantized values). Each is checked against gguf-py's
# dequantizer, which validates the bit packing.

def f16(x):
    return np.asarray(x, np.float32).astype(np.float16)


def _round(x):
    return np.round(x).astype(np.int64)


def _safe_div(a, b):
    return np.where(b == 0, 0, a / np.where(b == 0, 1, b))


def quantize_k4(x, bits):
    """Q4_K (bits 4) / Q5_K (bits 5): y = d*sc*q - dmin*m over 8 sub-blocks of 32."""
    qmax = (1 << bits) - 1
    x = x.reshape(-1, 8, 32).astype(np.float32)
    lo = np.minimum(x.min(-1), 0)
    scale, mins = (x.max(-1) - lo) / qmax, -lo
    d, dmin = f16(scale.max(-1) / 63), f16(mins.max(-1) / 63)
    sc = np.clip(_round(_safe_div(scale, d.astype(np.float32)[:, None])), 0, 63)
    m = np.clip(_round(_safe_div(mins, dmin.astype(np.float32)[:, None])), 0, 63)
    eff_s = d.astype(np.float32)[:, None] * sc
    eff_m = dmin.astype(np.float32)[:, None] * m
    q = np.clip(_round(_safe_div(x + eff_m[..., None], eff_s[..., None])), 0, qmax)
    s = np.zeros((x.shape[0], 12), np.uint8)
    s[:, 0:4] = sc[:, :4] | ((sc[:, 4:] >> 4) << 6)
    s[:, 4:8] = m[:, :4] | ((m[:, 4:] >> 4) << 6)
    s[:, 8:12] = (sc[:, 4:] & 15) | ((m[:, 4:] & 15) << 4)
    low = (q & 15).reshape(-1, 4, 2, 32)
    qs = (low[:, :, 0] | (low[:, :, 1] << 4)).reshape(-1, 128).astype(np.uint8)
    parts = [d.reshape(-1, 1).view(np.uint8), dmin.reshape(-1, 1).view(np.uint8), s]
    if bits == 5:
        hb = (q >> 4) & 1  # (nb, 8, 32)
        qh = sum(hb[:, j] << j for j in range(8)).astype(np.uint8)
        parts.append(qh)
    return np.concatenate(parts + [qs], axis=1)


def quantize_q6_k(x):
    """Q6_K: y = d*sc*(q - 32), 16 sub-blocks of 16 with int8 scales."""
    x = x.reshape(-1, 16, 16).astype(np.float32)
    scale = np.take_along_axis(x, np.abs(x).argmax(-1)[..., None], -1)[..., 0] / -32
    d = f16(np.abs(scale).max(-1) / 127)
    sc = np.clip(_round(_safe_div(scale, d.astype(np.float32)[:, None])), -128, 127)
    eff = (d.astype(np.float32)[:, None] * sc)[..., None]
    q = (np.clip(_round(_safe_div(x, eff)), -32, 31) + 32).reshape(-1, 2, 128)
    low = (q & 15).reshape(-1, 2, 2, 64)
    ql = (low[:, :, 0] | (low[:, :, 1] << 4)).reshape(-1, 128)
    high = (q >> 4).reshape(-1, 2, 4, 32)
    qh = sum(high[:, :, i] << (2 * i) for i in range(4)).reshape(-1, 64)
    return np.concatenate([ql.astype(np.uint8), qh.astype(np.uint8),
                           sc.astype(np.int8).view(np.uint8), d.reshape(-1, 1).view(np.uint8)], 1)


def quantize_q3_k(x):
    """Q3_K: y = d*(sc - 32)*q, q in -4..3 (2 low bits + a high-bit mask), 16 sub-blocks of 16."""
    x = x.reshape(-1, 16, 16).astype(np.float32)
    scale = np.take_along_axis(x, np.abs(x).argmax(-1)[..., None], -1)[..., 0] / -4
    d = f16(np.abs(scale).max(-1) / 31)
    sc = np.clip(_round(_safe_div(scale, d.astype(np.float32)[:, None])), -32, 31)
    eff = (d.astype(np.float32)[:, None] * sc)[..., None]
    q = (np.clip(_round(_safe_div(x, eff)), -4, 3) + 4).reshape(-1, 256)  # 0..7
    u = (sc + 32).astype(np.uint8)  # (nb, 16) 6-bit
    s = np.zeros((x.shape[0], 12), np.uint8)
    s[:, 0:8] = (u[:, 0:8] & 15) | ((u[:, 8:16] & 15) << 4)
    for k in range(16):
        s[:, 8 + k % 4] |= (u[:, k] >> 4) << (2 * (k // 4))
    low = (q & 3).reshape(-1, 2, 4, 32)
    qs = sum(low[:, :, i] << (2 * i) for i in range(4)).reshape(-1, 64)
    hb = (q >> 2).reshape(-1, 8, 32)
    hmask = sum(hb[:, i] << i for i in range(8))
    return np.concatenate([hmask.astype(np.uint8), qs.astype(np.uint8), s,
                           d.reshape(-1, 1).view(np.uint8)], 1)


def quantize_q2_k(x):
    """Q2_K: y = d*sc*q - dmin*m, q in 0..3, 4-bit sc and m, 16 sub-blocks of 16."""
    x = x.reshape(-1, 16, 16).astype(np.float32)
    lo = np.minimum(x.min(-1), 0)
    scale, mins = (x.max(-1) - lo) / 3, -lo
    d, dmin = f16(scale.max(-1) / 15), f16(mins.max(-1) / 15)
    sc = np.clip(_round(_safe_div(scale, d.astype(np.float32)[:, None])), 0, 15)
    m = np.clip(_round(_safe_div(mins, dmin.astype(np.float32)[:, None])), 0, 15)
    eff_s = (d.astype(np.float32)[:, None] * sc)[..., None]
    eff_m = (dmin.astype(np.float32)[:, None] * m)[..., None]
    q = np.clip(_round(_safe_div(x + eff_m, eff_s)), 0, 3).reshape(-1, 2, 4, 32)
    qs = sum(q[:, :, i] << (2 * i) for i in range(4)).reshape(-1, 64)
    return np.concatenate([(sc | (m << 4)).astype(np.uint8), qs.astype(np.uint8),
                           d.reshape(-1, 1).view(np.uint8), dmin.reshape(-1, 1).view(np.uint8)], 1)


K_QUANTIZERS = {
    T.Q4_K: lambda x: quantize_k4(x, 4),
    T.Q5_K: lambda x: quantize_k4(x, 5),
    T.Q6_K: quantize_q6_k,
    T.Q3_K: quantize_q3_k,
    T.Q2_K: quantize_q2_k,
}
# Largest RMS error relative to the weights' RMS accepted from the quantizers (a packing mistake
# gives errors of order 1).
MAX_REL_RMS = {T.Q2_K: 0.45, T.Q3_K: 0.25, T.Q4_K: 0.12, T.Q5_K: 0.06, T.Q6_K: 0.03,
               T.Q4_0: 0.12, T.Q4_1: 0.1, T.Q5_0: 0.06, T.Q5_1: 0.05, T.Q8_0: 0.01}


def quantize(x, ty):
    """A weight matrix (rows, cols) -> (GGUF bytes (rows, row_bytes), dequantized f32)."""
    x = np.ascontiguousarray(x, np.float32)
    if ty in K_QUANTIZERS:
        q = K_QUANTIZERS[ty](x).reshape(x.shape[0], -1)
    else:
        q = gguf.quants.quantize(x, ty)
    back = gguf.quants.dequantize(q, ty).reshape(x.shape)
    rel = np.sqrt(np.mean((back - x) ** 2)) / np.sqrt(np.mean(x ** 2))
    assert rel < MAX_REL_RMS[ty], f"{ty.name}: relative RMS error {rel:.3f}"
    return q, back


# -------------------------------------------------------------------------------------------------
# MLX affine forms, as Murmur's loader builds them (checked against mx.load below for the three
# formats MLX reads, and against gguf-py's dequantization for all).

AFFINE_BITS = {T.Q4_0: 4, T.Q4_1: 4, T.Q4_K: 4, T.Q5_0: 5, T.Q5_1: 5, T.Q5_K: 5, T.Q8_0: 8}


def pack(q, bits):
    """Unsigned quants (rows, cols) -> uint32 words, element i at bit bits*i (little-endian)."""
    rows, cols = q.shape
    b = (q[..., None].astype(np.uint64) >> np.arange(bits, dtype=np.uint64)) & 1
    b = b.reshape(rows, cols * bits // 32, 32)
    return (b << np.arange(32, dtype=np.uint64)).sum(-1).astype(np.uint32)


def affine(raw, ty, shape):
    """GGUF bytes of a block format in AFFINE_BITS -> (weight uint32, scales f16, biases f16, bits).
    Legacy formats: w = q*d + bias exactly; Q4_K/Q5_K: scale f16(d*sc), bias f16(-dmin*m)."""
    rows, cols = shape
    nbytes = gguf.GGML_QUANT_SIZES[ty][1]
    b = raw.reshape(-1, nbytes)
    f32 = np.float32

    def half(at):
        return b[:, at:at + 2].copy().view(np.float16)[:, 0]

    def nibbles(qs):
        return np.concatenate([qs & 15, qs >> 4], axis=1)

    d = half(0)
    if ty in (T.Q4_K, T.Q5_K):
        sc, m = gguf.quants.Q4_K.get_scale_min(b[:, 4:16])
        qs = b[:, 16:144] if ty == T.Q4_K else b[:, 48:176]
        q = (qs.reshape(-1, 4, 1, 32) >> np.array([0, 4], np.uint8).reshape(1, 1, 2, 1)) & 15
        q = q.reshape(-1, 8, 32)
        if ty == T.Q5_K:
            qh = b[:, 16:48].reshape(-1, 1, 32) >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)
            q = q | ((qh & 1) << 4)
        scale = (d.astype(f32)[:, None] * sc.astype(f32)).astype(np.float16)
        bias = (-(half(2).astype(f32)[:, None] * m.astype(f32))).astype(np.float16)
    elif ty == T.Q8_0:
        q = b[:, 2:34].copy().view(np.int8).astype(np.int16) + 128
        scale, bias = d, (f32(-128) * d.astype(f32)).astype(np.float16)
    elif ty in (T.Q4_0, T.Q4_1):
        q = nibbles(b[:, 2:18] if ty == T.Q4_0 else b[:, 4:20])
        scale = d
        bias = (f32(-8) * d.astype(f32)).astype(np.float16) if ty == T.Q4_0 else half(2)
    else:  # Q5_0, Q5_1
        at = 2 if ty == T.Q5_0 else 4
        qh = b[:, at:at + 4].copy().view(np.uint32)
        q = nibbles(b[:, at + 4:at + 20]) | (((qh >> np.arange(32, dtype=np.uint32)) & 1) << 4)
        scale = d
        bias = (f32(-16) * d.astype(f32)).astype(np.float16) if ty == T.Q5_0 else half(2)
    bits = AFFINE_BITS[ty]
    weight = pack(np.asarray(q).reshape(rows, cols), bits)
    return (mx.array(weight), mx.array(scale.reshape(rows, -1)), mx.array(bias.reshape(rows, -1)),
            bits)


# -------------------------------------------------------------------------------------------------
# The tiny model

CONFIG = {
    "model_type": "llama",
    "hidden_size": 256,
    "num_hidden_layers": 2,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "max_position_embeddings": 512,
    # llama.cpp permutes Q/K for its interleaved RoPE, so Murmur runs GGUF llamas with
    # traditional RoPE; the weights here are random, so the reference just uses the same.
    "rope_traditional": True,
    "tie_word_embeddings": False,
}
SEED = 2001

# GGUF name -> type; HF names follow from gguf_name().
TYPES = {
    "token_embd.weight": T.Q8_0,
    "output.weight": T.Q6_K,
    "output_norm.weight": T.F32,
    "blk.0.attn_q.weight": T.Q4_K,
    "blk.0.attn_k.weight": T.Q4_K,
    "blk.0.attn_v.weight": T.Q6_K,
    "blk.0.attn_output.weight": T.Q5_0,
    "blk.0.ffn_gate.weight": T.Q4_K,
    "blk.0.ffn_up.weight": T.Q4_1,
    "blk.0.ffn_down.weight": T.Q6_K,
    "blk.1.attn_q.weight": T.Q5_K,
    "blk.1.attn_k.weight": T.F16,
    "blk.1.attn_v.weight": T.Q8_0,
    "blk.1.attn_output.weight": T.Q4_0,
    "blk.1.ffn_gate.weight": T.Q5_1,
    "blk.1.ffn_up.weight": T.Q3_K,
    "blk.1.ffn_down.weight": T.Q2_K,
}
HF_TO_GGUF = {
    "model.embed_tokens": "token_embd", "lm_head": "output", "model.norm": "output_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def gguf_name(hf):
    stem, suffix = hf.rsplit(".", 1)
    if stem in HF_TO_GGUF:
        return f"{HF_TO_GGUF[stem]}.{suffix}"
    _, _, layer, rest = stem.split(".", 3)
    return f"blk.{layer}.{HF_TO_GGUF[rest]}.{suffix}"


def vocabulary():
    """A minimal GPT-2 style byte-level BPE vocabulary: 3 control tokens, the 256 byte symbols,
    then merges of lowercase letter pairs and of a space with a letter."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    symbols = [chr(c) for c in cs]
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges = [f"Ġ {a}" for a in letters] + [f"{a} {b}" for a in letters for b in letters]
    tokens = ["<unk>", "<s>", "</s>"] + symbols + [m.replace(" ", "") for m in merges]
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    return tokens, types, merges


def build_float_model(vocab):
    config = dict(CONFIG, vocab_size=vocab)
    model_class, args_class = lm_utils._get_classes(config)
    mx.random.seed(SEED)
    model = model_class(args_class.from_dict(config))
    model.eval()
    llm_models.randomize(model, config)
    mx.eval(model.parameters())
    return model, config


def write_gguf(path, tensors, tokens, types, merges):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("murmur tiny llama (random weights, mixed GGML types)")
    w.add_context_length(CONFIG["max_position_embeddings"])
    w.add_embedding_length(CONFIG["hidden_size"])
    w.add_block_count(CONFIG["num_hidden_layers"])
    w.add_feed_forward_length(CONFIG["intermediate_size"])
    w.add_head_count(CONFIG["num_attention_heads"])
    w.add_head_count_kv(CONFIG["num_key_value_heads"])
    w.add_rope_dimension_count(CONFIG["head_dim"])
    w.add_rope_freq_base(CONFIG["rope_theta"])
    w.add_layer_norm_rms_eps(CONFIG["rms_norm_eps"])
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name, (ty, data) in tensors.items():
        if ty in (T.F32, T.F16):
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=ty)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def save_folder(path, config, weights):
    path.mkdir(parents=True)
    mx.save_safetensors(str(path / "model.safetensors"), weights, metadata={"format": "mlx"})
    with open(path / "config.json", "w") as f:
        json.dump(config, f, indent=1)
    return lm_utils.load_model(path)[0]


def scale_of(logits):
    return float(mx.max(mx.abs(logits.astype(mx.float32))))


def max_rel_diff(a, b):
    a, b = a.astype(mx.float32), b.astype(mx.float32)
    return float(mx.max(mx.abs(a - b))) / max(scale_of(b), 1e-3)


def f32list(a):
    return [float(x) for x in np.array(a.astype(mx.float32))]


def choose_prompt(loaded, vocab, tol):
    """First prompt of a fixed random sequence on which every argmax of the "loaded" reference
    (prompt positions and the 16 greedy steps) beats the runner-up by more than twice the
    tolerance, so a loader within tolerance cannot flip a token, and whose greedy output has at
    least 4 distinct tokens."""
    rng = np.random.default_rng(SEED)
    for attempt in range(500):
        prompt = [int(t) for t in rng.integers(3, vocab, size=12)]
        toks = llm_models.greedy_manual(loaded, prompt)
        if len(set(toks)) < 4:
            continue
        logits, _ = llm_models.forward(loaded, prompt + toks)
        s = scale_of(logits)
        if all(llm_models.top2_gap(logits[i])[0] > 2 * tol * s
               for i in range(len(prompt) + len(toks) - 1)):
            return prompt, toks, attempt
    raise SystemExit("no prompt with clear margins")


def tiny_llama():
    out = OUT / "tiny-llama"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tokens, types, merges = vocabulary()
    model, config = build_float_model(len(tokens))

    tensors, float_weights, loaded_weights, quant, hf_of = {}, {}, {}, {}, {}
    for hf, v in tree_flatten(model.parameters()):
        name = gguf_name(hf)
        hf_of[name] = hf
        ty = TYPES.get(name, T.F32)
        x = np.array(v.astype(mx.float32))
        prefix = hf[: -len(".weight")]
        if ty == T.F32:
            tensors[name] = (ty, x)
            back = x
            loaded_weights[hf] = mx.array(x)
        elif ty == T.F16:
            tensors[name] = (ty, x.astype(np.float16))
            back = x.astype(np.float16).astype(np.float32)
            loaded_weights[hf] = mx.array(x.astype(np.float16))
        else:
            raw, back = quantize(x, ty)
            tensors[name] = (ty, raw)
            if ty in AFFINE_BITS:
                w, s, b, bits = affine(raw, ty, x.shape)
                # q*scale + bias (in f32) equals the reference values: exactly for the legacy
                # formats, within f16 rounding of the sub-block scale and offset for k-quants.
                deq = np.array(mx.dequantize(w, s.astype(mx.float32), b.astype(mx.float32),
                                             GROUP, bits))
                if ty in (T.Q4_K, T.Q5_K):
                    # |error| <= 2^-11 (|q*scale| + |bias|) <= 2^-11 (|w| + 2|bias|)
                    bias = np.repeat(np.abs(np.array(b.astype(mx.float32))), GROUP, axis=1)
                    err = np.abs(deq - back)
                    assert (err <= 2.0 ** -11 * (np.abs(back) + 2 * bias) + 1e-7).all(), name
                else:
                    assert np.array_equal(deq, back), name
            else:
                w, s, b = mx.quantize(mx.array(back.astype(np.float16)), GROUP, REQUANT_BITS)
                bits = REQUANT_BITS
            loaded_weights.update({hf: w, f"{prefix}.scales": s, f"{prefix}.biases": b})
            quant[prefix] = {"group_size": GROUP, "bits": bits}
        float_weights[hf] = mx.array(back)
    write_gguf(out / "model.gguf", tensors, tokens, types, merges)

    # MLX's own loader must agree with our repacking where it can read a file: write the natively
    # loadable tensors into a second file and compare.
    with tempfile.TemporaryDirectory() as tmp:
        native = {n: t for n, t in tensors.items() if t[0] in (T.Q4_0, T.Q4_1, T.Q8_0, T.F32, T.F16)}
        write_gguf(Path(tmp) / "native.gguf", native, tokens, types, merges)
        ref = mx.load(str(Path(tmp) / "native.gguf"))
        for name in native:
            hf = hf_of[name]
            pairs = [(name, hf)]
            if f"{hf[:-len('.weight')]}.scales" in loaded_weights:
                for part in ("scales", "biases"):
                    pairs.append((f"{name[:-len('.weight')]}.{part}", f"{hf[:-len('.weight')]}.{part}"))
            for g, h in pairs:
                assert ref[g].dtype == loaded_weights[h].dtype, g
                assert mx.array_equal(ref[g], loaded_weights[h]).item(), g

        # The two references, as mlx-community folders reloaded by mlx-lm.
        loaded_config = dict(config, quantization=dict(group_size=GROUP, bits=REQUANT_BITS, **quant))
        loaded = save_folder(Path(tmp) / "loaded", loaded_config, loaded_weights)
        fp = save_folder(Path(tmp) / "float", config, float_weights)

    # Tolerances of the Rust test (max |logit difference| / max |reference logit|): "loaded" runs
    # the very same arrays through the same MLX kernels (1e-3, as tests/llm_models.rs); "float"
    # differs by the f16 rounding of k-quant sub-block scales and the f16 rounding and 8-bit
    # re-quantization of the Q2_K/Q3_K/Q6_K tensors.
    prompt, greedy_ids, attempt = choose_prompt(loaded, len(tokens), TOL_LOADED)
    logits_loaded, _ = llm_models.forward(loaded, prompt)
    logits_float, _ = llm_models.forward(fp, prompt)
    measured = max_rel_diff(logits_loaded, logits_float)
    assert measured < TOL_FLOAT / 1.5, f"loaded vs float {measured}"
    # Positions where the float model's top-2 margin is wide enough that a model within the
    # tolerance must agree on the argmax.
    s = scale_of(logits_float)
    float_clear = [llm_models.top2_gap(logits_float[i])[0] > 2 * TOL_FLOAT * s
                   for i in range(len(prompt))]
    golden = {
        "mlx_version": mx.__version__,
        "mlx_lm_version": mlx_lm.__version__,
        "gguf_py_version": "0.19.0",
        "seed": SEED,
        "config": config,
        "tensor_types": {n: TYPES.get(n, T.F32).name for n in tensors},
        "loaded_quantization": quant,
        "prompt_ids": prompt,
        "prompt_search_attempt": attempt,
        "greedy_ids": greedy_ids,
        "logits_loaded_last": f32list(logits_loaded[-1]),
        "argmax_loaded": [int(x) for x in np.array(mx.argmax(logits_loaded, axis=-1))],
        "tolerance_loaded": TOL_LOADED,
        "logits_float_last": f32list(logits_float[-1]),
        "argmax_float": [int(x) for x in np.array(mx.argmax(logits_float, axis=-1))],
        "argmax_float_clear": float_clear,
        "tolerance_float": TOL_FLOAT,
        "loaded_vs_float_max_rel_diff": measured,
    }
    with open(out / "golden.json", "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"tiny-llama: {(out / 'model.gguf').stat().st_size} bytes; prompt attempt {attempt}; "
          f"greedy {greedy_ids}; loaded vs float {measured:.2e} (tolerance {TOL_FLOAT})")


def main():
    mx.set_default_device(mx.cpu)
    print(f"mlx {mx.__version__}, mlx-lm {mlx_lm.__version__}")
    OUT.mkdir(parents=True, exist_ok=True)
    blocks = block_goldens(np.random.default_rng(7))
    with open(OUT / "blocks.json", "w") as f:
        json.dump({"scales": SCALES, "blocks": blocks}, f, indent=1)
        f.write("\n")
    print(f"blocks.json: {', '.join(b['type'] for b in blocks)}")
    tiny_llama()


if __name__ == "__main__":
    main()
