#!/usr/bin/env python3
"""Import cycles between the modules of a Rust crate: for every module, its child modules
(each with everything below it) must not depend on each other in a circle. A dependency is
any path into another module -- `use crate::a::b`, `super::x`, `crate::a::f(...)` in code.
Parent and child may use each other (a module owns its children); siblings may not go both
ways, directly or round a longer loop.

    python3 scripts/module-cycles.py core/src [more crate src dirs]

Prints each cycle and exits 1 when there is one; `scripts/test.sh` runs it with the lints.
"""

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)


def modules(src):
    """File → module path (tuple), for every .rs file of the crate."""
    out = {}
    for f in sorted(src.rglob("*.rs")):
        rel = f.relative_to(src).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        out[f] = tuple(parts)
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def deps(text, here, known):
    """Module paths `here` refers to."""
    found = set()

    def resolve(root, rest):
        base = {"crate": (), "super": here[:-1], "self": here}[root]
        names = [n for n in rest.split("::") if n]
        while names and names[0] == "super":
            base, names = base[:-1], names[1:]
        path = base + tuple(names)
        # The longest prefix that is a module.
        while path and path not in known:
            path = path[:-1]
        return path

    for m in USE_GROUP.finditer(text):
        root, rest, group = m.groups()
        for item in re.split(r",", group):
            head = item.strip().split("::")[0].split(" as ")[0].strip()
            if head and head not in ("self", "*"):
                found.add(resolve(root, rest + "::" + head))
            elif head == "self":
                found.add(resolve(root, rest))
    for m in PATH.finditer(text):
        found.add(resolve(m.group(1), m.group(2)))
    return found


def sccs(nodes, edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def check(src):
    mods = modules(src)
    known = set(mods.values())
    refs = {}
    for f, here in mods.items():
        refs.setdefault(here, set()).update(deps(strip_comments(f.read_text()), here, known))
    cycles = []
    for parent in sorted(known | {()}):
        children = sorted({m[: len(parent) + 1] for m in known
                           if len(m) > len(parent) and m[: len(parent)] == parent})
        edges = {}
        for m, targets in refs.items():
            if m[: len(parent)] != parent or len(m) <= len(parent):
                continue
            a = m[: len(parent) + 1]
            for t in targets:
                if len(t) > len(parent) and t[: len(parent)] == parent:
                    b = t[: len(parent) + 1]
                    if a != b:
                        edges.setdefault(a, set()).add(b)
        for comp in sccs(children, edges):
            if len(comp) > 1:
                cycles.append(sorted("::".join(c) for c in comp))
    return cycles


def main():
    bad = 0
    for d in sys.argv[1:] or ["core/src"]:
        for comp in check(Path(d)):
            bad += 1
            print(f"{d}: import cycle among {', '.join(comp)}")
    if bad:
        sys.exit(1)
    print("no import cycles")


if __name__ == "__main__":
    main()
