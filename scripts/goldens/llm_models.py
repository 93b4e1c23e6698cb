#!/usr/bin/env python3
"""Tiny random-weight LLMs in the mlx-community on-disk layout, plus mlx-lm's outputs on them.

    PY=$(scripts/py-venv.sh); $PY scripts/goldens/llm_models.py [NAME ...]

For every model in MODELS this writes tests/goldens/llm/<name>/:
  config.json, model.safetensors (or model-0000i-of-0000n.safetensors) and
  model.safetensors.index.json  -- written by mlx-lm's own save_model/save_config, after
                                    the same steps `mlx_lm.convert` runs (cast to the config's
                                    torch_dtype, then mlx_lm.utils.quantize_model);
  golden.json                   -- the reference outputs of mlx-lm on the reloaded folder,
                                    and (`dense_float32`) on the same model with every weight
                                    dequantized and cast to float32, as Murmur runs models on
                                    MLX's CPU backend (murmur_core::backend::Precision).

Deterministic (fixed mx.random seeds, fixed prompt search) and idempotent: each folder is
removed and written again. See scripts/goldens/README.md.
"""

import argparse
import copy
import json
import random
import shutil
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_map_with_path, tree_unflatten

import mlx_lm
import mlx_lm.utils as lm_utils
from mlx_lm.generate import generate_step
from mlx_lm.models.cache import make_prompt_cache
from mlx_lm.sample_utils import greedy_sampler

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "goldens" / "llm"

VOCAB = 1024
PROMPT_LEN = 12  # prompt_ids
PROMPT2_LEN = 13  # prompt2_ids, fed as prompt2[:7] then prompt2[7:]
CHUNK_SPLIT = 7
GREEDY_TOKENS = 16
GROUP_SIZE, BITS = 64, 4
MIN_DISTINCT_GREEDY = 4  # prompts whose greedy continuation loops on fewer tokens are skipped

# ---------------------------------------------------------------------------------------------
# Hugging Face style config.json contents (what `mlx_lm.convert` would read), scaled down.


def qwen3_config(**over):
    # Keys as in Qwen/Qwen3-0.6B's config.json.
    c = {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": 64,
        "hidden_act": "silu",
        "hidden_size": 128,
        "initializer_range": 0.02,
        "intermediate_size": 256,
        "max_position_embeddings": 512,
        "max_window_layers": 2,
        "model_type": "qwen3",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }
    c.update(over)
    return c


def llama_config(**over):
    # Keys as in HuggingFaceTB/SmolLM2-135M-Instruct's config.json.
    c = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": 192,
        "initializer_range": 0.041666666666666664,
        "intermediate_size": 384,
        "is_llama_config": True,
        "max_position_embeddings": 512,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 3,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "pad_token_id": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_interleaved": False,
        "rope_scaling": None,
        "rope_theta": 100000,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.42.3",
        "use_cache": True,
        "vocab_size": VOCAB,
    }
    c.update(over)
    return c


def llama3_untied_config():
    # Keys as in meta-llama/Llama-3.2-1B-Instruct's config.json, but untied and with a tiny
    # original_max_position_embeddings so that the llama3 rope scaling changes the frequencies.
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": [2, 3],
        "head_dim": 32,
        "hidden_act": "silu",
        "hidden_size": 128,
        "initializer_range": 0.02,
        "intermediate_size": 256,
        "max_position_embeddings": 512,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 64,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def qwen2_config():
    # Keys as in Qwen/Qwen2.5-0.5B-Instruct's config.json.
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": 128,
        "initializer_range": 0.02,
        "intermediate_size": 256,
        "max_position_embeddings": 512,
        "max_window_layers": 2,
        "model_type": "qwen2",
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-06,
        "rope_theta": 1000000.0,
        "sliding_window": 512,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.1",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }


def gemma3_config():
    # Keys as in google/gemma-3-1b-it's config.json (model_type "gemma3_text", as in
    # mlx-community/gemma-3-1b-it-4bit). No lm_head in the checkpoint: tied embeddings.
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": None,
        "bos_token_id": 2,
        "cache_implementation": "hybrid",
        "eos_token_id": [1, 106],
        "final_logit_softcapping": None,
        "head_dim": 64,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 128,
        "initializer_range": 0.02,
        "intermediate_size": 256,
        "max_position_embeddings": 512,
        "model_type": "gemma3_text",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 1,
        "pad_token_id": 0,
        "query_pre_attn_scalar": 128,
        "rms_norm_eps": 1e-06,
        "rope_local_base_freq": 10000.0,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": 8,
        "sliding_window_pattern": 2,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.50.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


MODELS = [
    dict(name="qwen3", seed=1001, config=qwen3_config(), quantize=True),
    # Same architecture, other weights, split into several files (tiny shard limit).
    dict(name="qwen3-sharded", seed=1002, config=qwen3_config(), quantize=True,
         max_shard_bytes=128 * 1024),
    dict(name="llama", seed=1003, config=llama_config(), quantize=True),
    dict(name="llama-untied", seed=1004, config=llama3_untied_config(), quantize=True),
    dict(name="qwen2", seed=1005, config=qwen2_config(), quantize=True),
    dict(name="gemma3", seed=1006, config=gemma3_config(), quantize=True),
    # Dense (unquantized) bfloat16; smaller so the folder stays small.
    dict(name="qwen3-bf16", seed=1007,
         config=qwen3_config(hidden_size=64, intermediate_size=128, num_attention_heads=2,
                             num_key_value_heads=1, head_dim=64),
         quantize=False),
]

# Config changes that must change the outputs (checked; recorded in golden.json "sensitivity"
# so a test can tell a missing feature apart from other errors).
SENSITIVITY = {
    "gemma3": [("sliding_window=4096", {"sliding_window": 4096})],
    "llama-untied": [("rope_scaling=None", {"rope_scaling": None})],
}

# ---------------------------------------------------------------------------------------------
# Building, converting and saving, the way mlx_lm.convert does it.


def randomize(model, config):
    """Re-scale mlx's default init (which runs under the model's seed) so the tiny random models
    are useful goldens. With the default init a tied model mostly predicts its input token back
    (e.g. e_t . e_t dominates the logits) and greedy decoding repeats one token; here the
    residual stream is dominated by the layers, the logits have a spread of a few units (so
    bfloat16 rounding rarely ties the top two), and the parameters a default init leaves
    constant (norm scales, biases) get random values, so a loader that skips or misreads them
    fails the goldens:
      embed_tokens.weight          x 0.1 (normal, std 0.1/sqrt(hidden))
      o_proj / down_proj weights   x 4 (uniform +-4/sqrt(in))
      other linear weights         mlx default (uniform +-1/sqrt(in))
      RMSNorm scales               1 + 0.2 N(0,1) (Gemma stores w with scale 1 + w: 0.2 N(0,1))
      final norm (model.norm)      the above x 30 when tied, x 5 with a separate lm_head
      q/k biases (Qwen2)           0.5 N(0,1); v bias 0.1 N(0,1)
    """
    gemma = config["model_type"].startswith("gemma")
    tied = "lm_head" not in model
    final_gain = 30.0 if tied else 5.0

    def f(path, v):
        if path.endswith("norm.weight"):
            scale = 1.0 + 0.2 * mx.random.normal(v.shape)
            if path == "model.norm.weight":
                scale = scale * final_gain
            return scale - 1.0 if gemma else scale
        if path.endswith(".bias"):
            std = 0.1 if "v_proj" in path else 0.5
            return std * mx.random.normal(v.shape)
        if path.endswith("embed_tokens.weight"):
            return 0.1 * v
        if path.endswith(("o_proj.weight", "down_proj.weight")):
            return 4.0 * v
        return v

    model.update(tree_map_with_path(f, model.parameters()))


def build(spec):
    config = copy.deepcopy(spec["config"])
    model_class, args_class = lm_utils._get_classes(config)
    mx.random.seed(spec["seed"])
    model = model_class(args_class.from_dict(config))
    # What mlx_lm.load does with a Hugging Face checkpoint: the checkpoint of a tied model has no
    # lm_head.weight, and sanitize() drops it (Gemma3 drops the lm_head module itself then).
    weights = dict(tree_flatten(model.parameters()))
    if config.get("tie_word_embeddings", True):
        weights.pop("lm_head.weight", None)
    weights = model.sanitize(weights) if hasattr(model, "sanitize") else weights
    model.load_weights(list(weights.items()), strict=True)
    model.eval()
    randomize(model, config)
    # mlx_lm.convert: cast floating parameters to the config's torch_dtype.
    dtype = getattr(mx, config["torch_dtype"])
    cast_predicate = getattr(model, "cast_predicate", lambda _: True)
    model.update(tree_map_with_path(
        lambda k, v: v.astype(dtype) if cast_predicate(k) and mx.issubdtype(v.dtype, mx.floating) else v,
        model.parameters()))
    # mlx_lm.convert -q --q-group-size 64 --q-bits 4
    if spec["quantize"]:
        model, config = lm_utils.quantize_model(model, config, GROUP_SIZE, BITS)
    mx.eval(model.parameters())
    return model, config


def make_shards_bytes(max_bytes):
    """mlx_lm.utils.make_shards with a limit in bytes instead of whole GiB (same algorithm)."""
    def make_shards(weights, max_file_size_gb=None):
        shards, shard_size = [], 0
        for k, v in weights.items():
            if not shards or shard_size + v.nbytes > max_bytes:
                shards.append({})
                shard_size = 0
            shards[-1][k] = v
            shard_size += v.nbytes
        return shards
    return make_shards


def save(spec, model, config, path):
    if path.exists():
        shutil.rmtree(path)
    original = lm_utils.make_shards
    if spec.get("max_shard_bytes"):
        lm_utils.make_shards = make_shards_bytes(spec["max_shard_bytes"])
    try:
        lm_utils.save_model(path, model)
    finally:
        lm_utils.make_shards = original
    lm_utils.save_config(copy.deepcopy(config), config_path=path / "config.json")


# ---------------------------------------------------------------------------------------------
# Reference outputs.


def f32list(a):
    return [float(x) for x in np.array(a.astype(mx.float32)).reshape(-1)]


def ulp(x):
    """Spacing of bfloat16 numbers near |x| (8 significant bits)."""
    x = abs(float(x))
    return 2.0 ** (np.floor(np.log2(x)) - 7) if x > 0 else 2.0 ** -133


def top2_gap(row):
    r = np.array(row.astype(mx.float32), dtype=np.float64)
    i = np.argsort(-r, kind="stable")
    return float(r[i[0]] - r[i[1]]), float(r[i[0]])


def forward(model, ids, cache=None):
    cache = cache if cache is not None else make_prompt_cache(model)
    logits = model(mx.array(ids)[None], cache=cache)
    mx.eval(logits)
    return logits[0], cache


def greedy(model, ids):
    """mlx_lm.generate.generate_step with its greedy sampler (argmax of the log-probabilities),
    16 tokens, no EOS check (generate_step never checks EOS itself)."""
    toks, gaps = [], []
    for tok, logprobs in generate_step(mx.array(ids), model, max_tokens=GREEDY_TOKENS,
                                       sampler=greedy_sampler):
        toks.append(int(tok))
        gaps.append(top2_gap(logprobs)[0])
    return toks, gaps


def greedy_manual(model, ids):
    """The same greedy decode written out: prefill, then argmax of the logits, one token a step."""
    logits, cache = forward(model, ids)
    out = []
    nxt = int(mx.argmax(logits[-1]))
    for _ in range(GREEDY_TOKENS):
        out.append(nxt)
        logits, cache = forward(model, [nxt], cache)
        nxt = int(mx.argmax(logits[-1]))
    return out


def clear_margin(gap, top):
    # At least two bfloat16 steps between the best and the second-best logit.
    return gap >= 2 * ulp(top)


def choose_prompts(model, seed):
    """First candidate prompts (from a fixed random sequence) whose argmaxes are unambiguous:
    every position of the full pass, every greedy step and the second prompt's full pass have
    a top-1 margin of at least two bfloat16 steps, so a faithful implementation cannot flip a
    token by rounding; and whose greedy continuation has at least MIN_DISTINCT_GREEDY tokens."""
    rng = random.Random(seed)
    for attempt in range(500):
        p1 = [rng.randrange(3, VOCAB) for _ in range(PROMPT_LEN)]
        p2 = [rng.randrange(3, VOCAB) for _ in range(PROMPT2_LEN)]
        logits, _ = forward(model, p1)
        if not all(clear_margin(*top2_gap(logits[i])) for i in range(PROMPT_LEN)):
            continue
        _, gaps = greedy(model, p1)
        # Re-check the gaps on the logits along the greedy path.
        toks = greedy_manual(model, p1)
        path_logits, _ = forward(model, p1 + toks)
        if not all(clear_margin(*top2_gap(path_logits[i]))
                   for i in range(PROMPT_LEN - 1, PROMPT_LEN - 1 + GREEDY_TOKENS)):
            continue
        if min(gaps) <= 0 or len(set(toks)) < MIN_DISTINCT_GREEDY:
            continue
        full2, _ = forward(model, p2)
        if not all(clear_margin(*top2_gap(full2[i])) for i in range(PROMPT2_LEN)):
            continue
        return p1, p2, attempt
    raise SystemExit(f"no prompt with clear margins found for seed {seed}")


def config_summary(config, model):
    args = model.args
    keys = ["model_type", "hidden_size", "num_hidden_layers", "intermediate_size",
            "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
            "rms_norm_eps", "rope_theta", "rope_scaling", "tie_word_embeddings",
            "max_position_embeddings", "torch_dtype", "quantization", "query_pre_attn_scalar",
            "rope_local_base_freq", "sliding_window", "sliding_window_pattern"]
    s = {k: config[k] for k in keys if k in config}
    if "head_dim" not in s:
        s["head_dim"] = args.hidden_size // args.num_attention_heads
        s["head_dim_source"] = "hidden_size / num_attention_heads (no head_dim in config.json)"
    if config["model_type"] == "gemma3_text":
        p = args.sliding_window_pattern
        s["sliding_layers"] = [i for i in range(args.num_hidden_layers) if i % p != p - 1]
        s["global_layers"] = [i for i in range(args.num_hidden_layers) if i % p == p - 1]
        s["tied_after_sanitize"] = bool(model.tie_word_embeddings)
    return s


def tensor_table(path):
    out = {}
    for f in sorted(path.glob("model*.safetensors")):
        for k, v in mx.load(str(f)).items():
            out[k] = {"dtype": str(v.dtype).replace("mlx.core.", ""), "shape": list(v.shape),
                      "file": f.name}
    return dict(sorted(out.items()))


def dense_float32(model):
    """The model with every quantized layer dequantized (scales and biases converted to float32
    first, so the arithmetic is float32 throughout) and every floating parameter cast to
    float32: what `Weights::densify(Some(Float32))` hands Murmur's model files."""
    f32 = mx.float32
    replace = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
            w = mx.dequantize(m.weight, m.scales.astype(f32),
                              None if m.get("biases") is None else m.biases.astype(f32),
                              m.group_size, m.bits)
            if isinstance(m, nn.QuantizedLinear):
                out, inp = w.shape
                dense = nn.Linear(inp, out, bias="bias" in m)
                if "bias" in m:
                    dense.bias = m.bias
            else:
                dense = nn.Embedding(*w.shape)
            dense.weight = w
            replace.append((name, dense))
    if replace:
        model.update_modules(tree_unflatten(replace))
    model.update(tree_map(lambda a: a.astype(f32) if mx.issubdtype(a.dtype, mx.floating) else a,
                          model.parameters()))
    mx.eval(model.parameters())
    return model


def dense_goldens(path, p1, p2):
    """The goldens of the dense float32 model on the same prompts."""
    dense, _ = lm_utils.load_model(path)
    dense = dense_float32(dense)
    logits, _ = forward(dense, p1)
    greedy_ids, gaps = greedy(dense, p1)
    assert greedy_ids == greedy_manual(dense, p1)
    cache = make_prompt_cache(dense)
    _, cache = forward(dense, p2[:CHUNK_SPLIT], cache)
    chunk2, _ = forward(dense, p2[CHUNK_SPLIT:], cache)
    assert logits.dtype == mx.float32
    return {
        "how": ("mlx_lm.utils.load_model, then every QuantizedLinear/QuantizedEmbedding replaced by "
                "mx.dequantize(w, scales.astype(float32), biases.astype(float32)) and every "
                "floating parameter cast to float32 (dense_float32 in this script); same prompts"),
        "logits_last": f32list(logits[-1]),
        "logits_all_argmax": [int(x) for x in np.array(mx.argmax(logits, axis=-1))],
        "greedy_ids": greedy_ids,
        "greedy_top2_logprob_gaps": gaps,
        "logits_chunked_last": f32list(chunk2[-1]),
        "logits_chunked_argmax": [int(x) for x in np.array(mx.argmax(chunk2, axis=-1))],
    }


def generate_one(spec):
    name = spec["name"]
    path = OUT / name
    model, config = build(spec)
    save(spec, model, config, path)

    # Reload with the reference loader: the goldens come from what mlx-lm makes of the folder.
    loaded, loaded_config = lm_utils.load_model(path)
    assert loaded_config.get("quantization") == config.get("quantization"), name

    p1, p2, attempt = choose_prompts(loaded, spec["seed"])
    logits, _ = forward(loaded, p1)
    greedy_ids, greedy_gaps = greedy(loaded, p1)
    manual = greedy_manual(loaded, p1)
    assert greedy_ids == manual, (name, greedy_ids, manual)
    assert greedy_ids[0] == int(mx.argmax(logits[-1])), name

    cache = make_prompt_cache(loaded)
    _, cache = forward(loaded, p2[:CHUNK_SPLIT], cache)
    chunk2, cache = forward(loaded, p2[CHUNK_SPLIT:], cache)
    full2, _ = forward(loaded, p2)

    # Sanity: the in-memory model (before saving) gives the very same numbers.
    mem_logits, _ = forward(model, p1)
    assert mx.array_equal(mem_logits, logits).item(), f"{name}: reloaded logits differ"
    chunk_vs_full = float(mx.max(mx.abs(chunk2[-1].astype(mx.float32) - full2[-1].astype(mx.float32))))

    # The goldens must depend on the features they are meant to exercise.
    sensitivity = {}
    for what, override in SENSITIVITY.get(name, []):
        other, _ = lm_utils.load_model(path, model_config=override)
        o, _ = forward(other, p1)
        d = float(mx.max(mx.abs(o[-1].astype(mx.float32) - logits[-1].astype(mx.float32))))
        assert d > 0.1, f"{name}: {what} does not change the logits"
        sensitivity[what] = {"logits_last_max_abs_diff": d,
                             "logits_all_argmax": [int(x) for x in np.array(mx.argmax(o, axis=-1))]}

    golden = {
        "name": name,
        "mlx_lm_version": mlx_lm.__version__,
        "mlx_version": mx.__version__,
        "seed": spec["seed"],
        "config_summary": config_summary(config, loaded),
        "logits_dtype": str(logits.dtype).replace("mlx.core.", ""),
        "prompt_ids": p1,
        "prompt_search_attempt": attempt,
        "logits_last": f32list(logits[-1]),
        "logits_all_argmax": [int(x) for x in np.array(mx.argmax(logits, axis=-1))],
        "greedy_ids": greedy_ids,
        "greedy_method": ("mlx_lm.generate.generate_step(mx.array(prompt_ids), model, "
                          f"max_tokens={GREEDY_TOKENS}, sampler=mlx_lm.sample_utils.greedy_sampler)"
                          " with the model's make_prompt_cache; EOS ignored; equal to argmax of"
                          " the logits decoding one token at a time with the KV cache"),
        "greedy_top2_logprob_gaps": greedy_gaps,
        "prompt2_ids": p2,
        "chunk_split": CHUNK_SPLIT,
        "logits_chunked_last": f32list(chunk2[-1]),
        "logits_chunked_argmax": [int(x) for x in np.array(mx.argmax(chunk2, axis=-1))],
        "logits_prompt2_full_last": f32list(full2[-1]),
        "chunked_vs_full_max_abs_diff": chunk_vs_full,
        "sensitivity": sensitivity,
        "dense_float32": dense_goldens(path, p1, p2),
        "tensors": tensor_table(path),
    }
    with open(path / "golden.json", "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")

    size = sum(p.stat().st_size for p in path.iterdir())
    files = ", ".join(f"{p.name} {p.stat().st_size}" for p in sorted(path.iterdir()))
    print(f"{name}: {size} bytes ({files}); prompt attempt {attempt}; greedy {greedy_ids}; "
          f"chunked-vs-full {chunk_vs_full:g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="models to write (default: all)")
    a = ap.parse_args()
    known = [m["name"] for m in MODELS]
    for n in a.names:
        if n not in known:
            sys.exit(f"unknown model {n}; known: {' '.join(known)}")
    mx.set_default_device(mx.cpu)
    print(f"mlx {mx.__version__}, mlx-lm {mlx_lm.__version__}")
    for spec in MODELS:
        if not a.names or spec["name"] in a.names:
            generate_one(spec)


if __name__ == "__main__":
    main()
