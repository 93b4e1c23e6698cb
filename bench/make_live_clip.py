#!/usr/bin/env python3
"""A dictation with a pause, for the live benchmark: JFK (11 s), 3 s of silence, then
five consecutive LibriVox sentences read on (0.3 s apart, about 25 s) — what
tests/live.rs streams, as one 16 kHz mono WAV.

    python3 bench/make_live_clip.py FIXTURES_DIR OUT.wav
"""
import sys
import wave


def frames(path):
    with wave.open(path) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2), path
        return w.readframes(w.getnframes())


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    silence = lambda secs: b"\0\0" * int(secs * 16000)
    parts = [frames(f"{fixtures}/audio/jfk.wav"), silence(3.0)]
    for clip in ["0870", "0880", "0890", "0920", "0930"]:
        name = f"sense_and_sensibility_01_austen_64kb-{clip}.wav"
        parts += [frames(f"{fixtures}/audio/librivox/{name}"), silence(0.3)]
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(parts))


if __name__ == "__main__":
    main()
