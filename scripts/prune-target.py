#!/usr/bin/env python3
"""Drop build artifacts that no current build uses from Cargo's shared target directory.

The target directory lives in $MURMUR_CACHE and is reused by every run, so each change to
a workspace crate leaves its old test binaries (hundreds of MB each), rlibs and
incremental caches behind, and Cargo never removes them: the directory grew to 60 GB and
a CI run failed with "No space left on device". This keeps exactly what this run's builds
named (the `compiler-artifact` messages of `cargo ... --message-format=json`, fresh units
included), plus anything written since the run began (a suite building beside us), and
incremental caches touched in the last few days.

usage: prune-target.py PROFILE_DIR RUN_START_EPOCH ARTIFACTS.json...
"""

import json
import os
import re
import shutil
import sys
import time

HASHED = re.compile(r"^(?P<name>.+)-(?P<hash>[0-9a-f]{16})(?:\..*)?$")
INCREMENTAL_KEEP_S = 3 * 24 * 3600


def live_hashes(paths):
    live = set()
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("reason") != "compiler-artifact":
                    continue
                files = list(msg.get("filenames") or [])
                if msg.get("executable"):
                    files.append(msg["executable"])
                for file in files:
                    m = HASHED.match(os.path.basename(file))
                    if m:
                        live.add(m["hash"])
    return live


def size(path):
    if os.path.isdir(path) and not os.path.islink(path):
        total = 0
        for root, _, files in os.walk(path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def remove(path):
    freed = size(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            return 0
    return freed


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    profile, start = sys.argv[1], float(sys.argv[2])
    live = live_hashes(sys.argv[3:])
    if not live:
        # No artifact list means nothing can be told apart: keep everything.
        print("prune-target: no artifacts listed; nothing removed")
        return
    freed = count = 0
    for sub in ("deps", "examples"):
        folder = os.path.join(profile, sub)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            m = HASHED.match(name)
            path = os.path.join(folder, name)
            if not m or m["hash"] in live:
                continue
            try:
                if os.lstat(path).st_mtime >= start:
                    continue
            except OSError:
                continue
            freed += remove(path)
            count += 1
    # Incremental caches are named by rustc's own hash, which the messages don't give:
    # keep those in use lately, so the next small change still compiles incrementally.
    folder = os.path.join(profile, "incremental")
    cutoff = min(start, time.time() - INCREMENTAL_KEEP_S)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_mtime >= cutoff:
                    continue
            except OSError:
                continue
            freed += remove(path)
            count += 1
    print(f"prune-target: removed {count} stale artifacts, {freed / 2**30:.1f} GiB, from {profile}")


if __name__ == "__main__":
    main()
