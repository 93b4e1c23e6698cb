#!/usr/bin/env python3
"""The Python side of Murmur's dictation benchmark: audio → transcript → refined text with
mlx-whisper 0.4.3 then mlx-lm 0.32.2, timed per stage exactly as `murmur bench --dictation`
times Murmur (core/src/bench.rs `bench_dictation`).

    python bench/bench_dictation.py --whisper DIR --model DIR --audio A.wav [B.wav ...]
        [--reps 3] [--settings MURMUR.json] [--whisper-dtype auto|float16|float32]
        [--greedy-check] [--json OUT]

- load: `mlx_whisper.load_models.load_model` and `mlx_lm.load` (weights materialized).
- per clip, one first pipeline (kernel compilation, reported apart), then --reps more:
  - decode: the WAV file read to 16 kHz mono float32 (standard library + numpy; no ffmpeg
    is needed, the fixtures are 16-bit PCM);
  - transcribe: `mlx_whisper.transcribe(samples, path_or_hf_repo=DIR, fp16=...)` with its
    default options (language detection, timestamps, temperature fallback) — the
    defaults of Murmur's `TranscribeOptions` — on the model loaded above (mlx-whisper's
    model cache holds it);
  - refine: the same messages as Murmur's refine mode (system prompt, then the user
    message: the mode's task line and the transcript), rendered by the tokenizer's chat
    template (`apply_chat_template(..., add_generation_prompt=True)`), then
    `mlx_lm.stream_generate` (what `mlx_lm.generate` loops over; streamed here to see
    the first token) with `make_sampler(temp, top_p, min_p, top_k)`,
    `make_logits_processors(repetition_penalty, repetition_context_size)`, the same
    max_tokens, `mx.random.seed(seed)` before each call (Murmur seeds each refine);
  - total: the three, back to back.
- generated tokens exclude end-of-sequence (as Murmur counts them); decode tokens/s =
  (generated − 1) / (end − first token), Murmur's definition (mlx-lm's own
  generation_tps counts the first token and the EOS).

--settings takes a Murmur report (`murmur bench --dictation` JSON): its system prompt, user
prefix, sampler settings and per-clip max_tokens are used verbatim, and its prompt token
ids are checked against this side's (`prompt_same_as_murmur`). Without it, the defaults
below (Murmur's clean-up mode) and Murmur's budget rule (input tokens × 1.3, at least 32)
apply.

Whisper's compute dtype, `auto`: float32 on the CPU (what Murmur computes in there:
MLX's CPU backend has no fast half-precision kernels), float16 on a GPU (mlx-whisper's
default and Murmur's on Metal and CUDA).

--greedy-check also refines each clip's transcript once at temperature 0 (not timed):
with the same weights and prompt, both sides' greedy text should be identical.
"""
import argparse
import json
import os
import statistics
import sys
import time

SYSTEM = (
    "You clean up speech-to-text transcripts. Add punctuation and capitalization, remove filler "
    "words (um, uh, like, you know), stutters and false starts, and fix obvious transcription "
    "errors. Keep the speaker's words, meaning, language and tone; do not summarize, answer, or "
    "add anything. Reply with the cleaned text only."
)
DEFAULTS = {
    "system": SYSTEM,
    "user_prefix": "Clean up this transcript:\n\n",
    "enable_thinking": False,
    "temperature": 0.7,
    "top_p": 0.8,
    "top_k": 0,
    "min_p": 0.0,
    "repetition_penalty": 1.15,
    "repetition_context": 20,
    "seed": 0,
}


# The same 16 kHz 16-bit WAV reader as the Whisper benchmark (this script's folder is on
# sys.path when it runs).
from bench_mlx_whisper import load_wav_16k_mono  # noqa: E402


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--whisper", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--audio", nargs="+", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--settings", help="a `murmur bench --dictation` JSON report to take the prompt from")
    p.add_argument("--whisper-dtype", default="auto", choices=["auto", "float16", "float32"])
    p.add_argument("--greedy-check", action="store_true")
    p.add_argument("--json")
    args = p.parse_args()
    from mlx_whisper_import import import_mlx_whisper

    mlx_whisper = import_mlx_whisper()
    import mlx.core as mx
    import mlx_lm
    from mlx_lm.generate import stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler
    from mlx_whisper.load_models import load_model

    murmur = None
    settings = dict(DEFAULTS)
    if args.settings:
        with open(args.settings) as f:
            murmur = json.load(f)
        settings.update({k: murmur["settings"][k] for k in DEFAULTS})

    device = str(mx.default_device())
    wdtype = args.whisper_dtype
    if wdtype == "auto":
        wdtype = "float32" if "cpu" in device.lower() else "float16"
    fp16 = wdtype == "float16"

    t = time.perf_counter()
    wmodel = load_model(args.whisper, dtype=getattr(mx, wdtype))
    mx.eval(wmodel.parameters())
    whisper_load_s = time.perf_counter() - t
    # Hand the loaded model to mlx_whisper.transcribe's cache so no call reloads it.
    holder = sys.modules["mlx_whisper.transcribe"].ModelHolder
    holder.model, holder.model_path = wmodel, args.whisper

    t = time.perf_counter()
    model, tokenizer = mlx_lm.load(args.model)
    llm_load_s = time.perf_counter() - t
    weight_dtypes = sorted({str(v.dtype) for _, v in _leaves(model.parameters())})
    eos = set(tokenizer.eos_token_ids)

    def messages(text):
        msgs = []
        if settings["system"].strip():
            msgs.append({"role": "system", "content": settings["system"].strip()})
        msgs.append({"role": "user", "content": settings["user_prefix"] + text})
        return msgs

    def prompt_ids(text):
        rendered = tokenizer.apply_chat_template(
            messages(text), tokenize=False, add_generation_prompt=True,
            enable_thinking=settings["enable_thinking"])
        # The template writes the start token itself; no BOS is added on top.
        return rendered, tokenizer.encode(rendered, add_special_tokens=False)

    def budget(name, text):
        if murmur and name in murmur["clips"]:
            return murmur["clips"][name]["max_tokens"]
        n = len(tokenizer.encode(text, add_special_tokens=False))
        return max(-(-n * 13 // 10), 32)

    def refine(text, max_tokens, temperature):
        t0 = time.perf_counter()
        _, ids = prompt_ids(text)
        if settings["seed"] is not None:
            mx.random.seed(settings["seed"])
        sampler = make_sampler(temp=temperature, top_p=settings["top_p"],
                               min_p=settings["min_p"], top_k=settings["top_k"])
        procs = make_logits_processors(repetition_penalty=settings["repetition_penalty"],
                                       repetition_context_size=settings["repetition_context"])
        out, first, n = "", None, 0
        t1 = time.perf_counter()
        for r in stream_generate(model, tokenizer, ids, max_tokens=max_tokens,
                                 sampler=sampler, logits_processors=procs):
            if first is None:
                first = time.perf_counter()
            if r.finish_reason is None or r.token not in eos:
                n += 1
            out += r.text
        end = time.perf_counter()
        return {
            "refine_s": end - t0, "ttft_s": first - t1, "prompt_tokens": len(ids),
            "generated_tokens": n,
            "decode_tokens_per_sec": (n - 1) / (end - first) if n > 1 and end > first else 0.0,
            "text": out.strip(),
        }

    def pipeline(path, name):
        t0 = time.perf_counter()
        x = load_wav_16k_mono(path)
        t1 = time.perf_counter()
        tr = mlx_whisper.transcribe(x, path_or_hf_repo=args.whisper, fp16=fp16)
        t2 = time.perf_counter()
        transcript = tr["text"].strip()
        r = refine(transcript, budget(name, transcript), settings["temperature"]) if transcript else None
        t3 = time.perf_counter()
        run = {"decode_s": t1 - t0, "transcribe_s": t2 - t1, "refine_s": t3 - t2, "total_s": t3 - t0}
        if r:
            run.update({k: r[k] for k in ("ttft_s", "generated_tokens", "decode_tokens_per_sec")})
        return run, x, transcript, r

    clips = {}
    for path in args.audio:
        name = os.path.basename(path)
        first, x, transcript, r = pipeline(path, name)
        runs = [pipeline(path, name)[0] for _ in range(max(1, args.reps))]
        rendered, ids = prompt_ids(transcript)
        clip = {
            "audio_s": len(x) / 16000,
            "first": first,
            "runs": runs,
            **{k: med([run[k] for run in runs if k in run])
               for k in ("decode_s", "transcribe_s", "refine_s", "total_s", "ttft_s",
                         "generated_tokens", "decode_tokens_per_sec")},
            "transcript": transcript,
            "refined": r["text"] if r else "",
            "max_tokens": budget(name, transcript),
            "messages": messages(transcript),
            "prompt_text": rendered,
            "prompt_tokens": ids,
        }
        if murmur and name in murmur["clips"]:
            m = murmur["clips"][name]
            clip["transcript_same_as_murmur"] = m["transcript"] == transcript
            clip["prompt_same_as_murmur"] = m["prompt_tokens"] == ids
        if args.greedy_check and transcript:
            clip["greedy_refined"] = refine(transcript, clip["max_tokens"], 0.0)["text"]
        clips[name] = clip
    out = {
        "impl": "python",
        "versions": {"mlx": mx.__version__, "mlx_lm": mlx_lm.__version__,
                     "mlx_whisper": _version("mlx-whisper"), "python": sys.version.split()[0]},
        "device": device,
        "whisper": {"path": args.whisper, "dtype": wdtype, "load_s": whisper_load_s},
        "llm": {"path": args.model, "weight_dtypes": weight_dtypes, "load_s": llm_load_s},
        "settings": {**settings, "max_tokens": "per clip (clips.*.max_tokens)",
                     "whisper": "mlx_whisper.transcribe defaults, fp16=%s" % fp16,
                     "llm": "mlx_lm.stream_generate, make_sampler, make_logits_processors"},
        "reps": args.reps,
        "clips": clips,
        "peak_memory_bytes": mx.get_peak_memory(),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)


def _leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{prefix}{i}.")
    else:
        yield prefix, tree


def _version(dist):
    from importlib.metadata import version
    try:
        return version(dist)
    except Exception:
        return None


if __name__ == "__main__":
    main()
