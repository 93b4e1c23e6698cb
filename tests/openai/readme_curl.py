"""Runs the README's OpenAI curl examples against a real `murmur serve`, as a reader would
paste them (scripts/test-openai.sh sets OPENAI_BASE_URL, OPENAI_API_KEY and MODEL, and
runs this where `jfk.wav` is copied): the code block after the marker
`<!-- tested by tests/openai/readme_curl.py -->`, one command per line (with `\\`
continuations). Each must exit 0 and answer what its route promises: JSON without an
`error`, an event stream ending in `data: [DONE]`, or subtitles.

    python3 tests/openai/readme_curl.py README.md
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARKER = "<!-- tested by tests/openai/readme_curl.py -->"


def commands(readme):
    text = open(readme, encoding="utf-8").read()
    at = text.index(MARKER)
    block = re.search(r"```sh\n(.*?)```", text[at:], re.S)
    if block is None:
        raise SystemExit(f"no ```sh block after {MARKER}")
    joined = block.group(1).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip().startswith("curl")]


def check(cmd, out):
    if out.startswith("{"):
        body = json.loads(out)
        assert "error" not in body, body
        return body.get("object") or "json"
    if out.startswith("data:"):
        events = [line[len("data: "):] for line in out.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]", events[-3:]
        for e in events[:-1]:
            assert "error" not in json.loads(e), e
        return f"{len(events) - 1} events"
    assert "-->" in out, out[:200]
    return "subtitles"


def main():
    cmds = commands(sys.argv[1])
    assert len(cmds) >= 4, cmds
    fixtures = os.environ["MURMUR_FIXTURES"]
    with tempfile.TemporaryDirectory() as cwd:
        shutil.copy(os.path.join(fixtures, "audio", "jfk.wav"), cwd)
        for cmd in cmds:
            run = subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, f"{cmd}\n{run.stderr}"
            what = check(cmd, run.stdout.strip())
            print(f"ok: {what}: {cmd[:90]}")


if __name__ == "__main__":
    main()
