#!/usr/bin/env python3
"""What one forward pass of L tokens costs after a prompt is cached, with Python mlx-lm on
the same MLX build: the price of a prompt-lookup verification pass (L = 1 + drafts)
against a plain decode step (L = 1), for the drafter's cost model.

    python bench/forward_cost.py MODEL_DIR [--cached 117] [--lens 1,2,3,5,9,17,33] [--reps 9]

Per length: a fresh cache filled with `--cached` token ids, then one forward of L new ids,
evaluated; the median over --reps. Prints milliseconds and the ratio to L = 1.
"""
import argparse
import statistics
import time

import mlx.core as mx
import mlx_lm
from mlx_lm.models.cache import make_prompt_cache


def main():
    a = argparse.ArgumentParser()
    a.add_argument("model")
    a.add_argument("--cached", type=int, default=117)
    a.add_argument("--lens", default="1,2,3,5,9,17,33")
    a.add_argument("--reps", type=int, default=9)
    args = a.parse_args()
    model, _ = mlx_lm.load(args.model)
    prompt = mx.array([list(range(1000, 1000 + args.cached))])

    def once(n):
        cache = make_prompt_cache(model)
        mx.eval(model(prompt, cache=cache))
        x = mx.array([list(range(2000, 2000 + n))])
        t = time.perf_counter()
        mx.eval(model(x, cache=cache))
        return time.perf_counter() - t

    once(1)  # warm-up
    base = None
    for n in [int(x) for x in args.lens.split(",")]:
        ms = 1000 * statistics.median(once(n) for _ in range(args.reps))
        base = base or ms
        print(f"{n:3d} tokens: {ms:7.1f} ms  ({ms / base:.2f} × one token)")


if __name__ == "__main__":
    main()
