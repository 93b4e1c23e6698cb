#!/usr/bin/env python3
"""Murmur vs Python mlx-lm, side by side, on the same machine, MLX build and model.

    python bench/compare.py --murmur PATH/TO/murmur --python PY --model DIR [DIR...]
        [--runs 3] [--cold-runs 3] [--out bench/out/NAME]

For each model folder it alternates `murmur bench` and `bench/bench_mlx_lm.py` runs
(murmur, python, murmur, python, ...) so drift in the machine hits both sides alike,
takes the median of every row, and reports the ratio Murmur/Python (for times, the
ratio of Python's time to Murmur's, so > 1 always means Murmur is better). It also
measures cold start: a fresh process that loads the model, applies the refine chat
template and produces one token — `murmur refine --max-tokens 1` versus
`python -c 'import mlx_lm; load; stream_generate(max_tokens=1)'`, the floor of the
seeds' sidecar path. Writes OUT.json and OUT.md. Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = "um so i think we should uh meet on tuesday to go over the the budget numbers"
SYSTEM = (
    "You clean up speech-to-text transcripts. Add punctuation and capitalization, remove filler "
    "words (um, uh, like, you know), stutters and false starts, and fix obvious transcription "
    "errors. Keep the speaker's words, meaning, language and tone; do not summarize, answer, or "
    "add anything. Reply with the cleaned text only."
)
PY_COLD = """
import sys
import mlx_lm
from mlx_lm.generate import stream_generate
from mlx_lm.sample_utils import make_sampler, make_logits_processors
model, tok = mlx_lm.load(sys.argv[1])
msgs = [{"role": "system", "content": sys.argv[2]}, {"role": "user", "content": sys.argv[3]}]
prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, enable_thinking=False)
for r in stream_generate(model, tok, prompt, max_tokens=1, sampler=make_sampler(temp=0.7, top_p=0.8),
                         logits_processors=make_logits_processors(repetition_penalty=1.15)):
    sys.stdout.write(r.text or "?"); sys.stdout.flush()
    break
"""


def run_json(cmd, env):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out[out.index("{"):])


def cold(cmd, env):
    """Wall time of a whole process that ends after its first token."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rows_of(rep):
    r = {"load (s)": rep["load_s"], "time to first token, 128 (s)": rep["ttft_128_s"]}
    first = rep["prefill"].get("128", {}).get("first_ttft_s")
    if first is not None:
        r["time to first token, 128, first run (s)"] = first
    for n, p in sorted(rep["prefill"].items(), key=lambda kv: int(kv[0])):
        r[f"prefill {n} (tok/s)"] = p["tokens_per_sec"]
    r["decode (tok/s)"] = rep["decode_tokens_per_sec"]
    r["active memory (MB)"] = rep["active_memory_bytes"] / 1e6
    r["peak memory (MB)"] = rep["peak_memory_bytes"] / 1e6
    return r


def better_ratio(name, m, p):
    """> 1 means Murmur is better: rates are m/p; times and memory are p/m."""
    if m is None or p is None or m == 0 or p == 0:
        return None
    return m / p if "tok/s" in name else p / m


def fmt(x):
    return "—" if x is None else (f"{x:,.1f}" if x >= 100 else f"{x:.3f}")


def whisper(args, model, name, env, results):
    """Murmur vs mlx-whisper on each audio file: load, first and warm transcription."""
    m_runs, p_runs = [], []
    for _ in range(args.runs):
        common = ["--model", model, "--reps", str(args.reps), "--audio"] + args.audio
        m_runs.append(run_json([args.murmur, "bench"] + common, env))
        p_runs.append(run_json([args.python, os.path.join(HERE, "bench_mlx_whisper.py")] + common, env))
    rows = [("load (s)", lambda r: r["load_s"])]
    for a in m_runs[0]["audio"]:
        secs = m_runs[0]["audio"][a]["audio_s"]
        rows.append((f"{a} ({secs:.0f} s audio), first run (s)", lambda r, a=a: r["audio"][a]["first_s"]))
        rows.append((f"{a} ({secs:.0f} s audio), transcribe (s)", lambda r, a=a: r["audio"][a]["transcribe_s"]))
    rows.append(("peak memory (MB)", lambda r: r["peak_memory_bytes"] / 1e6))
    table = []
    for k, get in rows:
        mv, pv = med([get(r) for r in m_runs]), med([get(r) for r in p_runs])
        table.append((k, mv, pv, better_ratio(k, mv, pv)))
    same = {a: m_runs[0]["audio"][a]["text"].strip() == p_runs[0]["audio"][a]["text"].strip()
            for a in m_runs[0]["audio"]}
    results["models"][name] = {
        "path": model, "murmur": m_runs, "python": p_runs, "same_text": same,
        "medians": [{"row": k, "murmur": mv, "python": pv, "advantage": r} for k, mv, pv, r in table],
    }
    md = [f"### {name} (Whisper)\n\n| row | Murmur | mlx-whisper | Murmur advantage |\n|---|---|---|---|"]
    for k, mv, pv, r in table:
        md.append(f"| {k} | {fmt(mv)} | {fmt(pv)} | {'—' if r is None else f'{r:.2f}×'} |")
    md.append(f"\nSame text as mlx-whisper: {same}\n")
    return md


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--murmur", required=True)
    a.add_argument("--python", default=sys.executable)
    a.add_argument("--model", nargs="+", required=True)
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--cold-runs", type=int, default=3)
    a.add_argument("--prompt-lens", default="128,512,2048")
    a.add_argument("--decode-tokens", type=int, default=256)
    a.add_argument("--reps", type=int, default=3)
    a.add_argument("--audio", nargs="*", default=[],
                   help="Whisper mode: --model folders are Whisper models; time these files")
    a.add_argument("--out", default=os.path.join(HERE, "out", "llm"))
    args = a.parse_args()
    env = dict(os.environ)
    # BLIS (the CPU backend's BLAS, scripts/lib.sh) starts single-threaded; Murmur gives it
    # every core itself (murmur_core::backend::configure_blas), Python needs the variable.
    env.setdefault("BLIS_NUM_THREADS", str(os.cpu_count() or 1))
    results = {"runs": args.runs, "cold_runs": args.cold_runs, "models": {}}
    md = []
    for model in args.model:
        name = os.path.basename(os.path.normpath(model))
        if args.audio:
            md += whisper(args, model, name, env, results)
            continue
        m_runs, p_runs = [], []
        for _ in range(args.runs):
            common = ["--model", model, "--prompt-lens", args.prompt_lens,
                      "--decode-tokens", str(args.decode_tokens), "--reps", str(args.reps)]
            m_runs.append(run_json([args.murmur, "bench"] + common, env))
            p_runs.append(run_json([args.python, os.path.join(HERE, "bench_mlx_lm.py")] + common, env))
        m_cold, p_cold = [], []
        for _ in range(args.cold_runs):
            m_cold.append(cold([args.murmur, "refine", "--model", model, "--max-tokens", "1", "--seed", "0", TEXT], env))
            p_cold.append(cold([args.python, "-c", PY_COLD, model, SYSTEM, TEXT], env))
        m_rows = [rows_of(r) for r in m_runs]
        p_rows = [rows_of(r) for r in p_runs]
        table = []
        for key in m_rows[0]:
            mv, pv = med([r.get(key) for r in m_rows]), med([r.get(key) for r in p_rows])
            table.append((key, mv, pv, better_ratio(key, mv, pv)))
        mv, pv = med(m_cold), med(p_cold)
        table.append(("cold start to first token (s)", mv, pv, better_ratio("s", mv, pv)))
        results["models"][name] = {
            "path": model,
            "device": m_runs[0]["device"],
            "python_device": p_runs[0]["device"],
            "murmur": m_runs,
            "python": p_runs,
            "cold_start_s": {"murmur": m_cold, "python": p_cold},
            "medians": [{"row": k, "murmur": mv, "python": pv, "advantage": r} for k, mv, pv, r in table],
        }
        md.append(f"### {name}\n\n| row | Murmur | mlx-lm | Murmur advantage |\n|---|---|---|---|")
        for k, mv, pv, r in table:
            md.append(f"| {k} | {fmt(mv)} | {fmt(pv)} | {'—' if r is None else f'{r:.2f}×'} |")
        prof = [r.get("decode_profile") for r in m_runs if r.get("decode_profile")]
        if prof:
            keys = ["build_ms", "schedule_ms", "wait_ms", "callback_ms"]
            cells = " · ".join(f"{k[:-3]} {med([p[k] for p in prof]):.3f}" for k in keys)
            md.append(f"\nMurmur decode, host ms per token (median): {cells}")
            results["models"][name]["murmur_decode_profile_ms"] = {k: med([p[k] for p in prof]) for k in keys}
        md.append("")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump(results, fh, indent=2)
    text = "\n".join(md)
    with open(args.out + ".md", "w") as fh:
        fh.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
