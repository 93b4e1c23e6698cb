#!/usr/bin/env python3
"""Goldens for Murmur's chat templates and tokenizers, from HF transformers.

Regenerate (from the repository root; fixtures from scripts/fixtures.sh):

    PY=$(scripts/py-venv.sh)
    $PY -m pip install gguf          # transformers reads GGUF files through it
    $PY scripts/goldens/chat_templates.py

Writes tests/goldens/chat_templates/{qwen3,smollm2}.json, which tests/chat_template.rs
and tests/tokenizer.rs compare against exactly. Each case holds the messages, the render
options, the prompt `transformers`' `apply_chat_template(..., tokenize=False)` produced,
and that prompt's token ids (no special tokens added: the template writes them).

References:
- Qwen3: AutoTokenizer on the fixture folder (tokenizer.json + tokenizer_config.json with
  the Qwen3 template); ids from the Python `tokenizers` package on the same tokenizer.json.
- SmolLM2: AutoTokenizer on the GGUF file (`gguf_file=`), i.e. the template from its
  `tokenizer.chat_template` metadata and the tokenizer transformers builds from its vocab.
  transformers' GGUF converter gives every byte-level BPE file GPT-2's pre-tokenizer, but
  the original SmolLM2 tokenizer.json (and llama.cpp, for `tokenizer.ggml.pre = smollm`)
  first splits digits one by one. The ids here come from the converted tokenizer with
  that original pre-tokenizer restored; the script checks it agrees with the unmodified
  one on every text without digits.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from tokenizers import Tokenizer, pre_tokenizers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "goldens" / "chat_templates"


def fixtures_dir() -> Path:
    """Same lookup as tests/support/lib.rs."""
    if os.environ.get("MURMUR_FIXTURES"):
        return Path(os.environ["MURMUR_FIXTURES"])
    if os.environ.get("MURMUR_CACHE"):
        return Path(os.environ["MURMUR_CACHE"]) / "fixtures"
    system = Path("/var/cache/murmur/fixtures")
    if system.is_dir():
        return system
    return Path.home() / ".cache/murmur/fixtures"


def msg(role, content):
    return {"role": role, "content": content}


SYSTEM = "You are a careful editor. Fix spelling and grammar; change nothing else."
TRICKY = (
    'He said "don\'t" — it\'s 5°C in Zürich…\n'
    "Second line\twith a tab, 日本語, emoji 🎉👍🏽, <b>tags</b> & a back\\slash.\n\n"
    "  indented line  "
)

CONVERSATIONS = {
    "system_user": [msg("system", SYSTEM), msg("user", "their going to the store tomorow")],
    "user_only": [msg("user", "What is the capital of France?")],
    "multi_turn": [
        msg("system", SYSTEM),
        msg("user", "i has a apple"),
        msg("assistant", "I have an apple."),
        msg("user", "she dont like it"),
    ],
    "tricky_content": [msg("user", TRICKY)],
}

# Qwen3 only: an assistant turn whose content carries its reasoning, which the template
# moves out of (or drops from) the history.
QWEN3_EXTRA = {
    "thinking_history": [
        msg("user", "Capital of France?"),
        msg("assistant", "<think>\nThe user asks about France.\n</think>\n\nParis."),
        msg("user", "And of Italy?"),
    ],
}

# Texts encoded on their own (tokenizer goldens beyond the prompts).
TEXTS = [
    "Hello world",
    "In 2024, 12345 people paid $3.50 each.",
    "Zürich, 東京, 🎉👍🏽 and naïve café",
    "The capital of France is Paris.<|im_end|>",
    "  leading spaces\n\n\ttabs\r\nand CRLF  ",
]


def case(name, messages, add_generation_prompt, enable_thinking, expected, ids):
    c = {
        "name": name,
        "messages": messages,
        "add_generation_prompt": add_generation_prompt,
    }
    if enable_thinking is not None:
        c["enable_thinking"] = enable_thinking
    c["expected"] = expected
    c["ids"] = ids
    return c


def write(name, doc):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({len(doc['cases'])} cases)")


def render(tok, messages, add_generation_prompt, **kwargs):
    return tok.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs
    )


def qwen3(fix: Path):
    folder = fix / "qwen3-tokenizer"
    tok = AutoTokenizer.from_pretrained(str(folder))
    ref = Tokenizer.from_file(str(folder / "tokenizer.json"))

    def ids(text):
        return ref.encode(text, add_special_tokens=False).ids

    cases = []
    for name, messages in {**CONVERSATIONS, **QWEN3_EXTRA}.items():
        for thinking in (None, False, True):
            text = render(tok, messages, True, **({} if thinking is None else {"enable_thinking": thinking}))
            suffix = {None: "", False: "_nothink", True: "_think"}[thinking]
            cases.append(case(name + suffix, messages, True, thinking, text, ids(text)))
    text = render(tok, CONVERSATIONS["multi_turn"], False)
    cases.append(case("multi_turn_no_generation_prompt", CONVERSATIONS["multi_turn"], False, None, text, ids(text)))
    write(
        "qwen3",
        {
            "fixture": "qwen3-tokenizer/tokenizer_config.json",
            "bos_token": tok.bos_token,
            "eos_token": tok.eos_token,
            "cases": cases,
            "texts": [{"text": t, "ids": ids(t)} for t in TEXTS],
        },
    )


def smollm2(fix: Path):
    gguf = fix / "smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    converted = tok.backend_tokenizer
    original = Tokenizer.from_str(converted.to_str())
    original.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )

    def ids(text):
        got = original.encode(text, add_special_tokens=False).ids
        if not any(ch.isdigit() for ch in text):
            plain = converted.encode(text, add_special_tokens=False).ids
            if got != plain:
                sys.exit(f"SmolLM2 references disagree on a text without digits: {text!r}")
        return got

    cases = []
    for name, messages in CONVERSATIONS.items():
        text = render(tok, messages, True)
        cases.append(case(name, messages, True, None, text, ids(text)))
    text = render(tok, CONVERSATIONS["multi_turn"], False)
    cases.append(case("multi_turn_no_generation_prompt", CONVERSATIONS["multi_turn"], False, None, text, ids(text)))
    write(
        "smollm2",
        {
            "fixture": "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            "bos_token": tok.bos_token,
            "eos_token": tok.eos_token,
            "cases": cases,
            "texts": [{"text": t, "ids": ids(t)} for t in TEXTS],
        },
    )


def main():
    fix = fixtures_dir()
    if not fix.is_dir():
        sys.exit(f"no fixtures at {fix}: run scripts/fixtures.sh")
    try:
        import gguf  # noqa: F401
    except ImportError:
        sys.exit("the gguf package is missing: $PY -m pip install gguf")
    qwen3(fix)
    smollm2(fix)


if __name__ == "__main__":
    main()
