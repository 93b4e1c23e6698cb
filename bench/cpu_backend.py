#!/usr/bin/env python3
"""Murmur on MLX's CPU backend, before and after the fast-loop changes, side by side in one
run: the BLAS behind float32 matrix products (netlib's reference BLAS, which the mlx-cpu
wheel bundles, vs BLIS, which scripts/setup-mlx.sh links in) crossed with the precision the
models compute in (Whisper float16 vs float32; the LLM's weights as stored, 4-bit, vs dense
float32). Configurations alternate run by run; medians and the spread are reported.

    cargo build --release -p murmur-ffi --bin murmur
    python3 bench/cpu_backend.py [--runs 3] [--murmur PATH] [--out bench/out/cpu]
    python3 bench/cpu_backend.py --blas-choice   # BLIS vs OpenBLAS (Debian's
                                                 # libopenblas0-pthread), float32 only

The reference BLAS is selected by preloading the wheel's own libblas (still shipped beside
libmlx.so as LAPACK's dependency), so the same binary and the same libmlx.so run both ways;
`murmur doctor` reports which library serves `cblas_sgemm` in each configuration.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("MURMUR_CACHE", "/var/cache/murmur")
FIX = os.environ.get("MURMUR_FIXTURES", os.path.join(CACHE, "fixtures"))


def reference_blas():
    libs = glob.glob(os.path.join(CACHE, "mlx-*-cpu", "mlx_cpu.libs", "libblas-*.so*"))
    if not libs:
        sys.exit("no reference libblas beside libmlx.so: run scripts/setup-mlx.sh")
    return libs[0]


OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"


def env_for(blas):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if blas == "reference":
        env["LD_PRELOAD"] = reference_blas()
    elif blas == "openblas":
        if not os.path.exists(OPENBLAS):
            sys.exit(f"no {OPENBLAS}: apt-get install libopenblas0-pthread")
        env["LD_PRELOAD"] = OPENBLAS
    return env


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out[out.index("{"):])


def spread(xs):
    med = statistics.median(xs)
    return med, (min(xs), max(xs))


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--murmur", default=os.path.join(CACHE, "target", "release", "murmur"))
    a.add_argument("--llm", default=os.path.join(FIX, "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    a.add_argument("--whisper", default=os.path.join(FIX, "whisper-base-ct2"))
    a.add_argument("--audio", default=os.path.join(FIX, "audio", "jfk.wav"))
    a.add_argument("--out", default=os.path.join(HERE, "out", "cpu"))
    a.add_argument("--blas-choice", action="store_true",
                   help="only float32 (dense LLM, float32 Whisper), BLIS vs OpenBLAS")
    args = a.parse_args()

    if args.blas_choice:
        llm_cfgs = [("openblas", "auto"), ("blis", "auto")]
        whisper_cfgs = [("openblas", "float32"), ("blis", "float32")]
    else:
        llm_cfgs = [("reference", "as-stored"), ("blis", "as-stored"), ("blis", "auto")]
        whisper_cfgs = [("reference", "float16"), ("reference", "float32"), ("blis", "float16"),
                        ("blis", "float32")]
    blases = sorted({b for b, _ in llm_cfgs + whisper_cfgs})
    doctor = {b: run_json([args.murmur, "doctor", "--json"], env_for(b))["blas"] for b in blases}
    llm = {c: [] for c in llm_cfgs}
    whisper = {c: [] for c in whisper_cfgs}
    for i in range(args.runs):
        for blas, precision in llm_cfgs:
            r = run_json([args.murmur, "bench", "--model", args.llm, "--reps", "1",
                          "--prompt-lens", "128", "--decode-tokens", "64",
                          "--precision", precision], env_for(blas))
            llm[(blas, precision)].append(r)
            print(f"run {i + 1} llm {blas}/{precision}: prefill "
                  f"{r['prefill']['128']['tokens_per_sec']:.1f} tok/s, decode "
                  f"{r['decode_tokens_per_sec']:.1f} tok/s, load {r['load_s']:.2f} s",
                  file=sys.stderr)
        for blas, dtype in whisper_cfgs:
            r = run_json([args.murmur, "bench", "--model", args.whisper, "--audio", args.audio,
                          "--reps", "1", "--dtype", dtype], env_for(blas))
            whisper[(blas, dtype)].append(r)
            t = next(iter(r["audio"].values()))
            print(f"run {i + 1} whisper {blas}/{dtype}: {t['transcribe_s']:.2f} s: {t['text']!r}",
                  file=sys.stderr)

    md = ["| BLAS | LLM weights | load s | prefill 128 tok/s | decode tok/s | peak MB |",
          "|---|---|---|---|---|---|"]
    base = llm[llm_cfgs[0]]
    base_p = statistics.median(r["prefill"]["128"]["tokens_per_sec"] for r in base)
    base_d = statistics.median(r["decode_tokens_per_sec"] for r in base)
    for c in llm_cfgs:
        rs = llm[c]
        load, lr = spread([r["load_s"] for r in rs])
        p, pr = spread([r["prefill"]["128"]["tokens_per_sec"] for r in rs])
        d, dr = spread([r["decode_tokens_per_sec"] for r in rs])
        peak = statistics.median(r["peak_memory_bytes"] for r in rs) / 1e6
        md.append(f"| {c[0]} | {rs[0]['precision']} | {load:.2f} ({lr[0]:.2f}–{lr[1]:.2f}) | "
                  f"{p:.1f} ({pr[0]:.1f}–{pr[1]:.1f}), ×{p / base_p:.1f} | "
                  f"{d:.1f} ({dr[0]:.1f}–{dr[1]:.1f}), ×{d / base_d:.1f} | {peak:.0f} |")
    md += ["", "| BLAS | Whisper dtype | transcribe JFK s | × faster | text |", "|---|---|---|---|---|"]
    t0 = statistics.median(next(iter(r["audio"].values()))["transcribe_s"]
                           for r in whisper[whisper_cfgs[0]])
    for c in whisper_cfgs:
        rs = whisper[c]
        ts = [next(iter(r["audio"].values()))["transcribe_s"] for r in rs]
        t, tr = spread(ts)
        text = next(iter(rs[0]["audio"].values()))["text"].strip()
        md.append(f"| {c[0]} | {c[1]} | {t:.2f} ({tr[0]:.2f}–{tr[1]:.2f}) | ×{t0 / t:.1f} | {text} |")
    named = ", ".join(f"{b} = {d['name']} (`{d['library']}`, {d['threads']} thread(s))"
                      for b, d in doctor.items())
    md += ["", f"BLAS as `murmur doctor` reports it: {named}. {args.runs} alternating runs; "
           "medians (min–max)."]
    os.makedirs(args.out, exist_ok=True)
    name = "blas-choice.json" if args.blas_choice else "cpu.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump({"llm": {"/".join(k): v for k, v in llm.items()},
                   "whisper": {"/".join(k): v for k, v in whisper.items()},
                   "blas": doctor}, f, indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
