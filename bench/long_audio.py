#!/usr/bin/env python3
"""Assemble a long speech clip for the Whisper benchmark from the speech fixtures.

The fixtures hold only short clips (JFK, 11 s; five LibriVox sentences, 25 s), so the
"long file" row repeats them, in order, until the clip is at least `--seconds` long:
real speech throughout, several 30-second windows, the same file on both sides.

usage: long_audio.py AUDIO_DIR OUT.wav [--seconds 300]
"""
import argparse
import glob
import os
import wave


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("audio_dir", help="folder with jfk.wav and librivox/sense*.wav (or sense*.wav)")
    a.add_argument("out")
    a.add_argument("--seconds", type=float, default=300)
    args = a.parse_args()
    d = args.audio_dir
    parts = sorted(glob.glob(f"{d}/sense*.wav") + glob.glob(f"{d}/librivox/sense*.wav"))
    parts.append(os.path.join(d, "jfk.wav"))
    frames = b""
    for p in parts:
        with wave.open(p) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2), p
            frames += w.readframes(w.getnframes())
    with wave.open(args.out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        while w.getnframes() < args.seconds * 16000:
            w.writeframes(frames)
        print(f"{args.out}: {w.getnframes() / 16000:.1f} s from {len(parts)} clips")


if __name__ == "__main__":
    main()
