#!/usr/bin/env python3
"""Convert a llama-architecture Q4_0/Q4_1/Q8_0 GGUF (e.g. the SmolLM2-135M fixture) into
an mlx-community folder that Python mlx-lm loads, so both sides of the benchmark run the
very same quantized weights:

    python bench/gguf_to_mlx.py MODEL.gguf OUT_DIR [--dtype float32] [--tokenizer-from DIR]

MLX's GGUF loader already yields affine-quantized triples (weight, scales, biases;
group 32); they are renamed to Hugging Face names and saved with a per-layer
quantization table. With `--dtype float32` every weight is saved dense instead:
quantized ones as `mx.dequantize(w, scales.astype(f32), biases.astype(f32))`, exactly
what Murmur computes with on the CPU backend (`Precision::Auto` dequantizes the same
GGUF that way at load), so Python mlx-lm and Murmur multiply by identical float32
weights there. llama.cpp permutes Llama's Q/K rows for its interleaved RoPE, so the
config sets `rope_traditional: true`. The tokenizer and chat template come from
transformers' GGUF reader (needs the `gguf` package), or are copied from an earlier
conversion's folder with `--tokenizer-from` (the GPU machine has no `gguf` package).
"""
import argparse
import shutil
import json
import os
import re

import mlx.core as mx

NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def hf(name):
    stem, suffix = name.rsplit(".", 1)
    if stem == "token_embd":
        return "model.embed_tokens." + suffix
    if stem == "output_norm":
        return "model.norm." + suffix
    if stem == "output":
        return "lm_head." + suffix
    m = re.fullmatch(r"blk\.(\d+)\.(\w+)", stem)
    return f"model.layers.{m.group(1)}.{NAMES[m.group(2)]}.{suffix}"


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "chat_template.json", "added_tokens.json")


def portable_tokenizer_config(out):
    """transformers 5 saves `tokenizer_class: TokenizersBackend` and the chat template in a
    separate file, which transformers 4 (the GPU machine's, say) cannot read: name the
    class both know and put the template in the config too."""
    path = os.path.join(out, "tokenizer_config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    jinja = os.path.join(out, "chat_template.jinja")
    if "chat_template" not in cfg and os.path.exists(jinja):
        with open(jinja) as f:
            cfg["chat_template"] = f.read()
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("src")
    a.add_argument("out")
    a.add_argument("--dtype", choices=["float32", "float16", "bfloat16"],
                   help="save dense weights in this dtype (dequantized) instead of quantized")
    a.add_argument("--tokenizer-from", help="copy the tokenizer files from this folder")
    args = a.parse_args()
    src, out = args.src, args.out
    arrays, meta = mx.load(src, return_metadata=True)
    get = lambda k: meta[k].item() if hasattr(meta[k], "item") else meta[k]
    arch = get("general.architecture")
    assert arch == "llama", arch
    weights, quant = {}, {"group_size": 32, "bits": 4}
    for k, v in arrays.items():
        name = hf(k)
        weights[name] = v
        if name.endswith(".scales"):
            prefix = name[: -len(".scales")]
            w = arrays[k[: -len(".scales")] + ".weight"]
            bits = w.shape[-1] * 32 // (v.shape[-1] * 32)
            if bits != 4:
                quant[prefix] = {"group_size": 32, "bits": bits}
    if args.dtype:
        dtype = getattr(mx, args.dtype)
        dense = {}
        for name, v in weights.items():
            if name.endswith((".scales", ".biases")):
                continue
            prefix = name[: -len(".weight")] if name.endswith(".weight") else None
            if prefix and prefix + ".scales" in weights:
                q = quant.get(prefix, quant)
                v = mx.dequantize(v, weights[prefix + ".scales"].astype(dtype),
                                  weights[prefix + ".biases"].astype(dtype),
                                  group_size=q["group_size"], bits=q["bits"])
            dense[name] = v.astype(dtype)
        weights, quant = dense, None
    heads = int(get(f"{arch}.attention.head_count"))
    hidden = int(get(f"{arch}.embedding_length"))
    config = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": int(get(f"{arch}.block_count")),
        "intermediate_size": int(get(f"{arch}.feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(get(f"{arch}.attention.head_count_kv")),
        "rms_norm_eps": float(get(f"{arch}.attention.layer_norm_rms_epsilon")),
        "rope_theta": float(get(f"{arch}.rope.freq_base")),
        "rope_traditional": True,
        "vocab_size": arrays["token_embd.weight"].shape[0],
        "max_position_embeddings": int(get(f"{arch}.context_length")),
        "tie_word_embeddings": "output.weight" not in arrays,
        "eos_token_id": int(get("tokenizer.ggml.eos_token_id")),
    }
    if quant:
        config["quantization"] = quant
    os.makedirs(out, exist_ok=True)
    mx.save_safetensors(os.path.join(out, "model.safetensors"), weights, metadata={"format": "mlx"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if args.tokenizer_from:
        for f in TOKENIZER_FILES:
            if os.path.exists(os.path.join(args.tokenizer_from, f)):
                shutil.copy(os.path.join(args.tokenizer_from, f), out)
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(src)), gguf_file=os.path.basename(src))
        tok.save_pretrained(out)
        portable_tokenizer_config(out)
    print(f"wrote {out}: {len(weights)} arrays, quantization {quant}, dtype {args.dtype or 'as stored'}")


if __name__ == "__main__":
    main()
