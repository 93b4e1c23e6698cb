#!/usr/bin/env python3
"""The Python side of Murmur's benchmark: Python mlx-lm 0.32.2 measured exactly as
`murmur bench llm` measures Murmur (same prompts, lengths, sampler and definitions).

    python bench/bench_mlx_lm.py --model DIR [--prompt-lens 128,512,2048]
        [--decode-tokens 256] [--json OUT]

Definitions (shared with core/src/bench.rs):
- load: `mlx_lm.load` (weights materialized) wall time.
- prefill at N: a prompt of N token ids (id_i = 1000 + (i * 7919) % m, m = min(50000,
  vocab - 1000)), one generated token; tokens/s = N / time to first token, the median of
  --reps runs after a first run at that length (reported apart as first_ttft_s: it
  includes compiling kernels for the new shapes).
- decode: a 128-token prompt, 256 generated tokens with EOS ignored; tokens/s over the
  tokens after the first, as mlx-lm's generation_tps.
- sampler: the refine defaults (temperature 0.7, top-p 0.8, repetition penalty 1.15
  over the last 20 tokens), fixed seed.
- memory: MLX active memory after load, peak memory over the run.
"""
import argparse
import json
import statistics
import time


def prompt_ids(n, vocab):
    m = min(50000, vocab - 1000)
    return [1000 + (i * 7919) % m for i in range(n)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompt-lens", default="128,512,2048")
    p.add_argument("--decode-tokens", type=int, default=256)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json")
    args = p.parse_args()

    t0 = time.perf_counter()
    import mlx.core as mx
    import mlx_lm
    from mlx_lm.generate import stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    t_import = time.perf_counter() - t0
    mx.random.seed(0)
    t = time.perf_counter()
    model, tokenizer = mlx_lm.load(args.model)
    load_s = time.perf_counter() - t
    active_after_load = mx.get_active_memory()
    vocab = model.args.vocab_size
    tokenizer.eos_token_ids = []  # EOS ignored: always generate the full count

    def run(n_prompt, max_tokens):
        sampler = make_sampler(temp=0.7, top_p=0.8)
        procs = make_logits_processors(repetition_penalty=1.15, repetition_context_size=20)
        start = time.perf_counter()
        first = None
        last = None
        count = 0
        for r in stream_generate(
            model, tokenizer, prompt_ids(n_prompt, vocab), max_tokens=max_tokens,
            sampler=sampler, logits_processors=procs,
        ):
            if first is None:
                first = time.perf_counter() - start
            count = r.generation_tokens
            last = r
        return first, last, count

    # Warm-up (kernel compilation, allocator), as both sides do.
    run(32, 4)
    mx.reset_peak_memory()
    prefill = {}
    for n in [int(x) for x in args.prompt_lens.split(",") if x]:
        first, _, _ = run(n, 1)
        ttft = statistics.median(run(n, 1)[0] for _ in range(max(1, args.reps)))
        prefill[str(n)] = {"ttft_s": ttft, "tokens_per_sec": n / ttft, "first_ttft_s": first}
    _, r, count = run(128, args.decode_tokens)
    out = {
        "impl": "mlx-lm",
        "version": mlx_lm.__version__,
        "mlx": mx.__version__,
        "device": str(mx.default_device()),
        "import_s": t_import,
        "load_s": load_s,
        "ttft_128_s": prefill.get("128", {}).get("ttft_s"),
        "prefill": prefill,
        "decode_tokens": count,
        "decode_tokens_per_sec": r.generation_tps,
        "active_memory_bytes": active_after_load,
        "peak_memory_bytes": mx.get_peak_memory(),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
