#!/usr/bin/env python3
"""Dictation end to end, Murmur vs Python (mlx-whisper + mlx-lm), same machine, same
MLX build, same weights, same prompt and settings, alternating runs.

    python bench/compare_dictation.py --murmur PATH/TO/murmur --python PY \\
        --whisper WHISPER_DIR --model SMOLLM2.gguf --python-model MLX_DIR \\
        --audio A.wav [B.wav ...] [--runs 3] [--reps 1] [--comparison-runs 1] \\
        [--python-whisper DIR] [--out bench/out/dictation]

Each run is one `murmur bench --dictation` process, then one `bench/bench_dictation.py`
process (murmur, python, murmur, python, ...), so drift in the machine hits both alike.
Each process loads both models, then per clip runs the pipeline once (first run, kernel
compilation) and --reps more (measured). The Python side takes the system prompt, user
message, sampler settings and per-clip max_tokens from the Murmur report just before it
(`--settings`) and checks that its prompt token ids equal Murmur's.

The first --comparison-runs Murmur runs also measure prompt lookup on vs off and the
prefix cache cold vs warm on each clip's transcript (Murmur only: Python's pipeline has
neither), and both sides refine each transcript once greedily: with the same weights and
prompt the greedy texts should match.

Medians pool every measured pipeline of every run (runs × reps per clip and side), with
min–max; "Python / Murmur" is Python's time over Murmur's (for tokens/s, Murmur's rate
over Python's), so > 1 means Murmur is faster. Writes OUT.json and OUT.md. Standard
library only.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = [("decode", "decode_s"), ("transcribe", "transcribe_s"), ("refine", "refine_s"),
          ("total", "total_s")]


def run_json(cmd, env, log):
    log.append(" ".join(shlex.quote(c) for c in cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"failed ({p.returncode}): {log[-1]}")
    sys.stderr.write(p.stderr[-2000:])
    out = p.stdout
    return json.loads(out[out.index("{"):])


def stat(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(x, digits=3):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.1f}"
    return f"{x:.{digits}f}"


def cell(s, digits=3):
    if s is None:
        return "—"
    return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}–{fmt(s['max'], digits)})"


def ratio(a, b):
    if a is None or b is None or b["median"] == 0:
        return None
    return a["median"] / b["median"]


def machine():
    info = {"platform": platform.platform(), "python": sys.version.split()[0],
            "cpus": os.cpu_count()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["gpu"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["gpu"] = None
    return info


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--murmur", required=True)
    a.add_argument("--python", default=sys.executable)
    a.add_argument("--whisper", required=True, help="Whisper folder for Murmur")
    a.add_argument("--python-whisper", help="Whisper folder for mlx-whisper (default: --whisper)")
    a.add_argument("--model", required=True, help="chat model for Murmur (the .gguf)")
    a.add_argument("--python-model", required=True, help="the same weights for mlx-lm (MLX folder)")
    a.add_argument("--audio", nargs="+", required=True)
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--reps", type=int, default=1)
    a.add_argument("--comparison-runs", type=int, default=1)
    a.add_argument("--out", default=os.path.join(HERE, "out", "dictation"))
    args = a.parse_args()
    env = dict(os.environ)
    # BLIS (the CPU backend's BLAS) starts single-threaded; Murmur gives it every core
    # itself (murmur_core::backend::configure_blas), Python needs the variable.
    env.setdefault("BLIS_NUM_THREADS", str(os.cpu_count() or 1))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    commands, m_runs, p_runs = [], [], []
    settings_file = args.out + ".murmur-settings.json"
    for i in range(args.runs):
        cmd = [args.murmur, "bench", "--dictation", "--whisper", args.whisper, "--model", args.model,
               "--reps", str(args.reps), "--audio", *args.audio]
        if i >= args.comparison_runs:
            cmd.append("--no-comparisons")
        m = run_json(cmd, env, commands)
        m_runs.append(m)
        with open(settings_file, "w") as f:
            json.dump(m, f)
        cmd = [args.python, os.path.join(HERE, "bench_dictation.py"),
               "--whisper", args.python_whisper or args.whisper, "--model", args.python_model,
               "--reps", str(args.reps), "--settings", settings_file, "--audio", *args.audio]
        if i < args.comparison_runs:
            cmd.append("--greedy-check")
        p_runs.append(run_json(cmd, env, commands))
        print(f"run {i + 1}/{args.runs} done", file=sys.stderr, flush=True)

    m0, p0 = m_runs[0], p_runs[0]
    clips = list(m0["clips"])
    md = []
    md.append(f"Device: Murmur `{m0['device']}`, Python `{p0['device']}`; "
              f"Whisper {m0['whisper']['dtype']} (Murmur) / {p0['whisper']['dtype']} (mlx-whisper); "
              f"LLM weights: Murmur {m0['llm']['dtype']} from `{os.path.basename(m0['llm']['path'])}`, "
              f"mlx-lm {', '.join(d.replace('mlx.core.', '') for d in p0['llm']['weight_dtypes'])} "
              f"from `{os.path.basename(os.path.normpath(p0['llm']['path']))}`; BLAS {m0.get('blas')}.")
    md.append(f"{args.runs} alternating runs per side × {args.reps} measured pipeline(s) per clip "
              "(after one first pipeline per clip and process); medians (min–max) over all measured "
              "pipelines; \"Python / Murmur\" > 1 means Murmur is faster.\n")
    md.append("| clip | stage | Murmur (s) | Python (s) | Python / Murmur |")
    md.append("|---|---|---|---|---|")
    table, totals = {}, {k: [0.0, 0.0] for _, k in STAGES}
    for c in clips:
        mr = [r for run in m_runs for r in run["clips"][c]["runs"]]
        pr = [r for run in p_runs for r in run["clips"][c]["runs"]]
        rows = {}
        secs = m0["clips"][c]["audio_s"]
        for label, k in STAGES:
            ms, ps = stat([r[k] for r in mr]), stat([r[k] for r in pr])
            rows[k] = {"murmur": ms, "python": ps, "python_over_murmur": ratio(ps, ms)}
            totals[k][0] += ms["median"]
            totals[k][1] += ps["median"]
            r = rows[k]["python_over_murmur"]
            md.append(f"| {c} ({secs:.1f} s) | {label} | {cell(ms)} | {cell(ps)} | "
                      f"{'—' if r is None else f'{r:.2f}×'} |")
        for label, k, digits in [("refine: first token (s)", "ttft_s", 3),
                                 ("refine: generated tokens", "generated_tokens", 0),
                                 ("refine: decode tok/s", "decode_tokens_per_sec", 1)]:
            ms, ps = stat([r.get(k) for r in mr]), stat([r.get(k) for r in pr])
            rows[k] = {"murmur": ms, "python": ps}
            if k == "decode_tokens_per_sec":
                rr = ratio(ms, ps)
            elif k == "ttft_s":
                rr = ratio(ps, ms)
            else:
                rr = None
            md.append(f"| {c} | {label} | {cell(ms, digits)} | {cell(ps, digits)} | "
                      f"{'—' if rr is None else f'{rr:.2f}×'} |")
        table[c] = rows
    for label, k in STAGES:
        mt, pt = totals[k]
        md.append(f"| all {len(clips)} clips (sum of medians) | {label} | {fmt(mt)} | {fmt(pt)} | "
                  f"{(pt / mt if mt else 0):.2f}× |")

    # Same inputs on both sides.
    checks = {}
    md.append("\n| clip | same transcript | same prompt ids | greedy refine: Murmur = mlx-lm | "
              "Murmur greedy: lookup off = on = eager |")
    md.append("|---|---|---|---|---|")
    for c in clips:
        mc, pc = m0["clips"][c], p0["clips"][c]
        greedy_m = (mc.get("greedy") or {}).get("lookup_off")
        greedy_p = pc.get("greedy_refined")
        ck = {
            "same_transcript": all(r["clips"][c]["transcript"] == mc["transcript"]
                                   for r in m_runs + p_runs),
            "same_prompt_ids": all(r["clips"][c].get("prompt_same_as_murmur") for r in p_runs),
            "same_greedy_text": None if greedy_m is None or greedy_p is None else greedy_m == greedy_p,
            "lookup_lossless_greedy": (mc.get("greedy") or {}).get("identical"),
        }
        checks[c] = ck
        md.append(f"| {c} | {ck['same_transcript']} | {ck['same_prompt_ids']} | "
                  f"{ck['same_greedy_text']} | {ck['lookup_lossless_greedy']} |")

    # Murmur only: prompt lookup and the prefix cache.
    comp = [r for r in m_runs if any(c.get("lookup") for c in r["clips"].values())]
    lookup = {}
    if comp:
        md.append("\nMurmur refine on each clip's transcript (prompt lookup alternating off / on, the "
                  "adaptive default / eager, `adaptive: false`, at the refine settings, prefix cache "
                  "warm; greedy: one temperature-0 refine each; first token: one-token refines after "
                  "`prefix_cache().clear()` and right after; medians, min–max):\n")
        md.append("| clip | decode tok/s: off / on / eager | refine s: off / on / eager | "
                  "on: accepted / drafted (passes) | eager: accepted / drafted (passes) | "
                  "greedy tok/s off / on / eager (eager accepted / drafted) | "
                  "first token, prefix cache cold → warm (s) | prompt tokens (cached) |")
        md.append("|---|---|---|---|---|---|---|---|")
        for c in clips:
            ls = [r["clips"][c]["lookup"] for r in comp if r["clips"][c].get("lookup")]
            ps = [r["clips"][c]["prefix_cache"] for r in comp if r["clips"][c].get("prefix_cache")]
            if not ls:
                continue
            def side(name, key):
                return stat([x[key] for l in ls for x in l[name]["runs"]])

            def drafts(name):
                d = [l[name]["draft"] for l in ls]
                return {k: sum(x[k] for x in d) for k in ("accepted", "drafted", "verify_steps")}

            def accs(d):
                if not d["drafted"]:
                    return f"0/0 ({d['verify_steps']})"
                return f"{d['accepted']}/{d['drafted']} = {d['accepted'] / d['drafted']:.0%} ({d['verify_steps']})"

            tok = {n: side(n, "decode_tokens_per_sec") for n in ("off", "on", "eager")}
            ref = {n: side(n, "refine_s") for n in ("off", "on", "eager")}
            dr_on, dr_eager = drafts("on"), drafts("eager")
            cold = stat([x for p in ps for x in p["uncached_runs_s"]])
            warm = stat([x for p in ps for x in p["cached_runs_s"]])
            cached = sorted({n for p in ps for n in p["cached_cached_tokens"]})
            cold_cached = sorted({n for p in ps for n in p["uncached_cached_tokens"]})
            gs = [r["clips"][c]["greedy"] for r in comp if r["clips"][c].get("greedy")]
            g = {n: stat([x[f"lookup_{n}_run"]["decode_tokens_per_sec"] for x in gs])
                 for n in ("off", "on", "eager")}
            g_acc = sum(x["lookup_eager_run"]["draft"]["accepted"] for x in gs)
            g_dr = sum(x["lookup_eager_run"]["draft"]["drafted"] for x in gs)
            greedy = (" / ".join(fmt(g[n]["median"], 1) for n in ("off", "on", "eager"))
                      + f" ({g_acc}/{g_dr})") if all(g.values()) else "—"
            lookup[c] = {"decode_tok_s": tok, "refine_s": ref, "drafts_on": dr_on, "drafts_eager": dr_eager,
                         "ttft_cold_s": cold, "ttft_warm_s": warm, "cached_tokens_warm": cached,
                         "cached_tokens_cold": cold_cached,
                         "greedy_tok_s": g, "greedy_eager_accepted": g_acc, "greedy_eager_drafted": g_dr}
            md.append(f"| {c} | {' / '.join(cell(tok[n], 1) for n in ('off', 'on', 'eager'))} | "
                      f"{' / '.join(fmt(ref[n]['median']) for n in ('off', 'on', 'eager'))} | "
                      f"{accs(dr_on)} | {accs(dr_eager)} | {greedy} | "
                      f"{cell(cold)} → {cell(warm)} | {ps[0]['prompt_tokens']} ({cached}; cold {cold_cached}) |")

    md.append("\nTexts (first run):\n")
    for c in clips:
        mc, pc = m0["clips"][c], p0["clips"][c]
        md.append(f"- {c}: transcript “{mc['transcript']}”")
        md.append(f"  - Murmur refined: “{mc['refined']}”")
        md.append(f"  - mlx-lm refined: “{pc['refined']}”")
        if mc.get("greedy"):
            md.append(f"  - greedy (Murmur, lookup off): “{mc['greedy']['lookup_off']}”")
        if pc.get("greedy_refined") is not None:
            md.append(f"  - greedy (mlx-lm): “{pc['greedy_refined']}”")

    s = m0["settings"]
    md.append("\nSettings (both sides): system prompt “" + s["system"] + "”; user message "
              + json.dumps(s["user_prefix"]) + " + transcript; chat template of the model, generation "
              f"prompt, thinking {'on' if s['enable_thinking'] else 'off'}; temperature {s['temperature']}, "
              f"top-p {s['top_p']}, top-k {s['top_k']}, min-p {s['min_p']}, repetition penalty "
              f"{s['repetition_penalty']} over {s['repetition_context']} tokens, seed {s['seed']}; "
              "max_tokens per clip " + ", ".join(f"{c} {m0['clips'][c]['max_tokens']}" for c in clips)
              + f"; Murmur prompt lookup {'on' if s['prompt_lookup'] else 'off'} in the pipeline "
              f"({s['prompt_lookup_settings']}). Whisper: default options (mlx-whisper's), "
              "language detection, temperature fallback 0.0…1.0.")
    vers = p0["versions"]
    mach = machine()
    md.append(f"\nVersions: murmur {m0['version']}, mlx {vers['mlx']}, mlx-lm {vers['mlx_lm']}, "
              f"mlx-whisper {vers['mlx_whisper']}, Python {vers['python']}. Machine: {mach.get('cpu')}, "
              f"{mach['cpus']} CPUs, {mach['platform']}" + (f", GPU {mach['gpu']}" if mach.get("gpu") else "")
              + f"; {datetime.date.today().isoformat()}.")
    md.append("\nCommands (in order):\n\n```sh\n" + "\n".join(commands) + "\n```")

    results = {"runs": args.runs, "reps": args.reps, "machine": mach, "commands": commands,
               "stages": table, "checks": checks, "murmur_lookup_prefix": lookup,
               "murmur": m_runs, "python": p_runs}
    with open(args.out + ".json", "w") as f:
        json.dump(results, f, indent=2)
    text = "\n".join(md)
    with open(args.out + ".md", "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
