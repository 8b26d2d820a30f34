#!/usr/bin/env python3
"""Fails when a file under src/ includes a header of a library it may not use.

The libraries and what each may use mirror the DEPS of src/*/CMakeLists.txt (a library may use
what its dependencies use). Every target gets the whole src/ include path, so without this check
an upward include would compile. Usage: check_layering.py [--plant FILE:HEADER] [SRC_DIR]
(--plant adds one include to one file in memory, to show the check catches it).
"""
import os
import re
import sys

# library -> the libraries it depends on directly (as in CMake)
DEPS = {
    "core": [],
    "loader": ["core"],
    "image": ["core"],
    "tokenizer": ["core"],
    "tokenizer/jinja": ["core"],
    "kernels": ["core"],
    "model": ["kernels", "loader", "image", "core"],
    "engine": ["model", "tokenizer", "core"],
    "protocol": ["engine", "model", "tokenizer", "core"],
    "server": ["protocol", "engine", "image", "tokenizer/jinja", "tokenizer", "core"],
    "loadgen": ["image", "core"],
    "app": ["server", "loadgen", "engine", "model", "tokenizer", "tokenizer/jinja"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def library_of(path):
    """The library a path under src/ belongs to (the longest matching prefix)."""
    best = None
    for lib in DEPS:
        if path == lib or path.startswith(lib + "/"):
            if best is None or len(lib) > len(best):
                best = lib
    return best


def allowed(lib):
    seen, todo = {lib}, [lib]
    while todo:
        for dep in DEPS[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def main(argv):
    plant = None
    if len(argv) >= 2 and argv[0] == "--plant":
        plant = tuple(argv[1].split(":", 1))
        argv = argv[2:]
    src = argv[0] if argv else os.path.join(os.path.dirname(__file__), "..", "src")
    src = os.path.normpath(src)
    problems, checked = [], 0
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".h", ".cpp", ".cu", ".cuh")):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src).replace(os.sep, "/")
            lib = library_of(rel)
            if lib is None:
                problems.append(f"{rel}: in no known library (add it to DEPS)")
                continue
            with open(full, encoding="utf-8") as f:
                text = f.read()
            if plant and plant[0] == rel:
                text = f'#include "{plant[1]}"\n' + text
            checked += 1
            for header in INCLUDE.findall(text):
                target = library_of(header)
                if target is None:
                    continue  # a header outside src/ (third-party, generated)
                if target not in allowed(lib):
                    problems.append(f"{rel}: includes {header} ({lib} may not use {target})")
    for p in problems:
        print("layering:", p)
    print(f"layering: {checked} files, {len(problems)} violations")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
