#!/usr/bin/env python3
"""Benchmark models: random weights in the exact Qwen3 configurations (and a small one
for CPU runs), 4-bit group 64, saved in the mlx-community layout by mlx-lm itself, with
the real Qwen3 tokenizer and chat template. Throughput does not depend on the values,
so random weights measure what the real checkpoints would.

    python bench/make_models.py --tokenizer DIR --out DIR [qwen3-0.6b qwen3-1.7b qwen3-4b qwen3-small]

DIR for --tokenizer holds tokenizer.json and tokenizer_config.json (the fixture
qwen3-tokenizer/). Needs mlx and mlx-lm 0.32.2.
"""
import argparse
import os
import shutil

import mlx.core as mx
from mlx.utils import tree_map

# The published Qwen3 configs (config.json of Qwen/Qwen3-*), trimmed to what matters.
BASE = dict(
    model_type="qwen3", architectures=["Qwen3ForCausalLM"], hidden_act="silu", vocab_size=151936,
    max_position_embeddings=40960, rms_norm_eps=1e-6, rope_theta=1000000, rope_scaling=None,
    attention_bias=False, head_dim=128, bos_token_id=151643, eos_token_id=151645, torch_dtype="bfloat16",
)
CONFIGS = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, tie_word_embeddings=True),
    "qwen3-1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, tie_word_embeddings=True),
    "qwen3-4b": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                     num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
    # A scaled-down Qwen3 for the 2-core CPU machine: same vocabulary and head layout.
    "qwen3-small": dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
                        num_attention_heads=8, num_key_value_heads=4, tie_word_embeddings=True),
}


def make(name, tokenizer_dir, out_dir):
    from mlx_lm.utils import _get_classes, quantize_model, save_config, save_model

    config = dict(BASE, **CONFIGS[name])
    path = os.path.join(out_dir, name)
    if os.path.exists(os.path.join(path, "config.json")):
        print(f"{name}: exists")
        return path
    mx.random.seed(0)
    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    model.update(tree_map(lambda p: p.astype(mx.bfloat16), model.parameters()))
    model, config = quantize_model(model, config, 64, 4)
    tmp = path + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_model(tmp, model, donate_model=True)
    save_config(config, os.path.join(tmp, "config.json"))
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, f), tmp)
    os.rename(tmp, path)
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith(".safetensors"))
    print(f"{name}: {size / 1e9:.2f} GB of weights in {path}")
    return path


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--tokenizer", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("names", nargs="*", default=["qwen3-0.6b", "qwen3-1.7b", "qwen3-4b"])
    args = a.parse_args()
    for n in args.names:
        make(n, args.tokenizer, args.out)


if __name__ == "__main__":
    main()
