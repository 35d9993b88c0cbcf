#!/usr/bin/env python3
"""Runs the fenced code blocks of README.md and docs/*.md.

Every fenced block with a language tag is handled by its language:

  rust              a program against ringmq-core (a block without `fn main`
                    is wrapped in one returning Result); all Rust blocks are
                    built in one cargo invocation of a scratch crate, then run
  c                 compiled with cc -std=c11 -Wall -Wextra -Werror -Iinclude
                    against the release static library (a block without
                    `main` is wrapped in `int main(void)`), then run
  python            run with the Python that has the binding (--python)
  js, javascript    run with node, `require('ringmq')` resolving to
                    bindings/node (its addon, ringmq.node, built already)
  sh, bash          not run, unless marked `<!-- docs: run -->`, but
                    syntax-checked (bash -n)
  text              output samples: never run

A marker, an HTML comment on the last non-blank line before a block, says a
block is deliberately not run, and why (the reason is required):

  <!-- docs: skip (why) -->       not runnable as written (a path, a tool)
  <!-- docs: fragment (why) -->   a part of a program, not a whole one
  <!-- docs: run -->              run a sh/bash block (from the repository
                                  root, under bash -euo pipefail)
  <!-- docs: context NAME -->     a C fragment, run inside the program
                                  tools/docs-check/context/NAME.c: its
                                  `/* DEFINITIONS */` gets the block's static
                                  functions, its `/* BLOCK */` the rest

A block without a language tag fails the check if it looks like code.
Each block runs in a fresh temporary directory (its working directory and
TMPDIR), removed afterwards. Prints per file the counts of blocks run,
skipped (marked), shell blocks not run and output blocks; exits 1 if any
block failed.

Usage: check_docs.py [--python PY] [--only FILE]... [--verbose]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# docs/NATS.md belongs to another change and is not checked yet; files that
# do not exist are left out.
EXCLUDED = {"docs/NATS.md"}

RUN_LANGS = {"rust", "c", "python", "js", "javascript"}
SHELL_LANGS = {"sh", "bash", "shell"}
OUTPUT_LANGS = {"text", "output"}
TIMEOUT = 120

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([A-Za-z0-9_+-]*)[^`]*$")
MARKER = re.compile(r"^\s*<!--\s*docs:\s*(\w[\w-]*)\s*(.*?)\s*-->\s*$")
LOOKS_LIKE_CODE = re.compile(
    r"(;\s*$|^\s*(fn|let|use|import|from|def|const|function|#include|int|static|struct|class)\b"
    r"|require\(|=>|^\s*\$ |\b(cargo|npm|pip|make|cc|python3?|node) )",
    re.M,
)


class Block:
    def __init__(self, path, line, lang, code, marker, reason):
        self.path, self.line, self.lang, self.code = path, line, lang, code
        self.marker, self.reason = marker, reason
        self.outcome = None  # "run", "skipped", "shell", "output", "other"
        self.error = None
        self.output = ""

    @property
    def name(self):
        return f"{self.path}:{self.line}"

    @property
    def ident(self):
        stem = re.sub(r"[^a-z0-9]+", "_", self.path.lower()).strip("_")
        return f"{stem}_{self.line}"


def files(only):
    names = ["README.md"] + sorted(
        "docs/" + f for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md")
    )
    if only:
        names = [n for n in names if n in only]
    return [n for n in names if n not in EXCLUDED and os.path.isfile(os.path.join(ROOT, n))]


def parse(path, problems):
    lines = open(os.path.join(ROOT, path), encoding="utf-8").read().split("\n")
    blocks, i, used = [], 0, set()
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start = i
        body = []
        i += 1
        while i < len(lines) and not re.match(r"^\s*" + re.escape(fence[0]) * len(fence) + r"\s*$", lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1
        marker = reason = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0:
            mm = MARKER.match(lines[j])
            if mm:
                used.add(j)
                marker, reason = mm.group(1), mm.group(2).strip("() ")
                if marker == "context":
                    ctx = os.path.join(ROOT, "tools", "docs-check", "context", reason + ".c")
                    if lang != "c" or not os.path.isfile(ctx):
                        problems.append(f"{path}:{j + 1}: a context marker needs a c block and {ctx}")
                elif marker not in ("skip", "fragment", "run"):
                    problems.append(f"{path}:{j + 1}: unknown marker {marker!r}")
                elif marker != "run" and not reason:
                    problems.append(f"{path}:{j + 1}: a {marker} marker must say why: <!-- docs: {marker} (why) -->")
                elif marker == "run" and lang not in SHELL_LANGS:
                    problems.append(f"{path}:{j + 1}: <!-- docs: run --> is for sh/bash blocks")
        blocks.append(Block(path, start + 1, lang, "\n".join(body) + "\n", marker, reason))
    for j, line in enumerate(lines):
        if MARKER.match(line) and j not in used:
            problems.append(f"{path}:{j + 1}: a marker must be the last non-blank line before a block")
    return blocks


def sh(cmd, cwd, env=None, timeout=TIMEOUT, fail_on_stderr=False):
    """Runs cmd; returns its exit status and output. With fail_on_stderr,
    anything written to stderr makes the status 1."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE if fail_on_stderr else subprocess.STDOUT,
                           timeout=timeout, text=True, errors="replace")
        if fail_on_stderr and p.stderr.strip():
            return p.returncode or 1, p.stdout + "\n(stderr)\n" + p.stderr
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return 124, out + f"\n(timed out after {timeout} s)"


def run_in_tmp(block, cmd_for_dir, env_extra=None, files_for_dir=None, fail_on_stderr=False):
    d = tempfile.mkdtemp(prefix="ringmq-docs-")
    try:
        env = dict(os.environ, TMPDIR=d)
        env.update(env_extra or {})
        if files_for_dir:
            files_for_dir(d)
        t0 = time.time()
        rc, out = sh(cmd_for_dir(d), cwd=d, env=env, fail_on_stderr=fail_on_stderr)
        block.output = f"({time.time() - t0:.1f} s)\n{out}"
        if rc != 0:
            block.error = f"exit status {rc}\n{out}"
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- Rust ---------------------------------------------------------------

def rust_source(code):
    if re.search(r"\bfn\s+main\s*\(", code):
        return "#![allow(unused)]\n" + code
    head, rest, lines = [], [], code.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("use ") or (head and not rest and not line.strip()):
            stmt = [line]
            while not stmt[-1].rstrip().endswith(";") and i + 1 < len(lines) and line.strip():
                i += 1
                stmt.append(lines[i])
            head.extend(stmt)
            i += 1
            continue
        rest = lines[i:]
        break
    body = "\n".join("    " + l if l.strip() else "" for l in rest)
    return (
        "#![allow(unused)]\n" + "\n".join(head)
        + "\nfn main() -> Result<(), Box<dyn std::error::Error>> {\n" + body + "\n    Ok(())\n}\n"
    )


def run_rust(blocks, target_dir):
    if not blocks:
        return
    crate = os.path.join(target_dir, "docs-check", "crate")
    shutil.rmtree(os.path.join(crate, "src"), ignore_errors=True)
    os.makedirs(os.path.join(crate, "src", "bin"))
    with open(os.path.join(crate, "Cargo.toml"), "w") as f:
        f.write(
            '[package]\nname = "ringmq-docs-blocks"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
            f'[dependencies]\nringmq-core = {{ path = "{os.path.join(ROOT, "ringmq-core")}" }}\n\n'
            # The workspace's release profile, so that ringmq-core's release
            # build is shared with it.
            "[profile.release]\ndebug = 1\npanic = \"unwind\"\n\n[workspace]\n"
        )
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(crate, "Cargo.lock"))
    with open(os.path.join(crate, "src", "lib.rs"), "w") as f:
        f.write("")
    for b in blocks:
        with open(os.path.join(crate, "src", "bin", b.ident + ".rs"), "w") as f:
            f.write(rust_source(b.code))
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
    rc, out = sh(["cargo", "build", "--release", "--bins", "--quiet", "--message-format", "short"],
                 cwd=crate, env=env, timeout=900)
    if rc != 0:
        for b in blocks:
            mine = [l for l in out.split("\n") if f"src/bin/{b.ident}.rs" in l]
            b.error = "does not compile:\n" + ("\n".join(mine) if mine else out[-4000:])
        # Blocks that did compile may still be run: cargo stops at the first
        # crate that fails, so build the rest one by one.
        for b in blocks:
            if any(f"src/bin/{b.ident}.rs" in l for l in out.split("\n")):
                continue
            rc1, out1 = sh(["cargo", "build", "--release", "--quiet", "--bin", b.ident], cwd=crate, env=env, timeout=900)
            b.error = None if rc1 == 0 else "does not compile:\n" + out1[-4000:]
    for b in blocks:
        if b.error is None:
            exe = os.path.join(target_dir, "release", b.ident)
            run_in_tmp(b, lambda d: [exe])


# ---- C --------------------------------------------------------------------

C_PRELUDE = """#include <ringmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
"""


def split_c(code):
    """The block's file-scope static functions, and its other lines."""
    defs, rest, lines, i = [], [], code.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("static ") and "(" in line and not line.rstrip().endswith(";"):
            while True:
                defs.append(lines[i])
                if lines[i].rstrip() == "}" or i + 1 >= len(lines):
                    break
                i += 1
        else:
            rest.append(line)
        i += 1
    return "\n".join(defs), "\n".join(rest)


def c_source(code, context=None):
    if context:
        defs, rest = split_c(code)
        text = open(os.path.join(ROOT, "tools", "docs-check", "context", context + ".c")).read()
        body = "\n".join("    " + l if l.strip() else "" for l in rest.split("\n"))
        return text.replace("/* DEFINITIONS */", defs).replace("    /* BLOCK */", body)
    if re.search(r"\bint\s+main\s*\(", code):
        return code
    body = "\n".join("    " + l if l.strip() else "" for l in code.split("\n"))
    return C_PRELUDE + "\nint main(void) {\n" + body + "\n    return 0;\n}\n"


def run_c(blocks, target_dir):
    lib = os.path.join(target_dir, "release", "libringmq.a")
    for b in blocks:
        def build_and_run(d, b=b):
            with open(os.path.join(d, "block.c"), "w") as f:
                f.write(c_source(b.code, b.reason if b.marker == "context" else None))
            return ["bash", "-c",
                    f"cc -std=c11 -Wall -Wextra -Werror -pthread -I'{ROOT}/include' block.c '{lib}' "
                    "-lpthread -ldl -lm -o block && ./block"]
        run_in_tmp(b, build_and_run)


# ---- Python and Node ------------------------------------------------------

# Runs block.py; a push handler's failure, which the binding logs on the
# "ringmq" logger and otherwise only nacks, fails the block too.
PY_RUNNER = """import logging, runpy, sys
class Failures(logging.Handler):
    count = 0
    def emit(self, record):
        Failures.count += 1
        sys.stderr.write("ringmq logged: " + self.format(record) + "\\n")
logging.getLogger("ringmq").addHandler(Failures(logging.ERROR))
runpy.run_path("block.py", run_name="__main__")
if Failures.count:
    sys.exit("a handler failed (see above)")
"""


def run_python(blocks, python):
    for b in blocks:
        def cmd(d, b=b):
            with open(os.path.join(d, "block.py"), "w") as f:
                f.write(b.code)
            with open(os.path.join(d, "run_block.py"), "w") as f:
                f.write(PY_RUNNER)
            return [python, "-X", "dev", "run_block.py"]
        run_in_tmp(b, cmd)


def run_node(blocks):
    pkg = os.path.join(ROOT, "bindings", "node")
    for b in blocks:
        def cmd(d, b=b):
            os.makedirs(os.path.join(d, "node_modules"))
            os.symlink(pkg, os.path.join(d, "node_modules", "ringmq"))
            with open(os.path.join(d, "block.js"), "w") as f:
                f.write(b.code)
            return ["node", "block.js"]
        # A push handler's failure without an 'error' listener is written to
        # stderr (console.error): anything there fails the block.
        run_in_tmp(b, cmd, fail_on_stderr=True)


def run_shell(blocks):
    for b in blocks:
        rc, out = sh(["bash", "-euo", "pipefail", "-c", b.code], cwd=ROOT, timeout=600)
        if rc != 0:
            b.error = f"exit status {rc}\n{out}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python", default=sys.executable, help="a Python with ringmq installed")
    ap.add_argument("--only", action="append", help="check only this file (repeatable), e.g. docs/C.md")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every block's output")
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"))
    args = ap.parse_args()
    target_dir = os.path.abspath(args.target_dir)

    problems, blocks = [], []
    names = files(args.only)
    for n in names:
        blocks += parse(n, problems)

    todo = {"rust": [], "c": [], "python": [], "node": [], "shell": []}
    for b in blocks:
        if b.marker in ("skip", "fragment"):
            b.outcome = "skipped"
        elif b.marker == "context" and b.lang == "c":
            b.outcome = "run"
            todo["c"].append(b)
        elif b.lang == "":
            if LOOKS_LIKE_CODE.search(b.code):
                b.outcome = "untagged"
                b.error = "a block without a language tag that looks like code: tag it (text for output)"
            else:
                b.outcome = "output"
        elif b.lang in OUTPUT_LANGS:
            b.outcome = "output"
        elif b.lang in SHELL_LANGS:
            if b.marker == "run":
                b.outcome = "run"
                todo["shell"].append(b)
            else:
                b.outcome = "shell"
                rc, out = sh(["bash", "-n", "-c", b.code], cwd=ROOT)
                if rc != 0:
                    b.error = "not valid shell (bash -n):\n" + out
        elif b.lang in RUN_LANGS:
            b.outcome = "run"
            todo["node" if b.lang in ("js", "javascript") else b.lang].append(b)
        else:
            b.outcome = "other"

    if todo["c"] and not os.path.isfile(os.path.join(target_dir, "release", "libringmq.a")):
        print("== building libringmq (release)", flush=True)
        subprocess.run(["cargo", "build", "--release", "-p", "ringmq-ffi"], cwd=ROOT, check=True,
                       env=dict(os.environ, CARGO_TARGET_DIR=target_dir))
    if todo["node"] and not os.path.isfile(os.path.join(ROOT, "bindings", "node", "ringmq.node")):
        print("== building the Node addon (node scripts/build.js)", flush=True)
        subprocess.run(["node", "scripts/build.js"], cwd=os.path.join(ROOT, "bindings", "node"), check=True)

    for lang, fn in (("rust", lambda bs: run_rust(bs, target_dir)), ("c", lambda bs: run_c(bs, target_dir)),
                     ("python", lambda bs: run_python(bs, args.python)), ("node", run_node),
                     ("shell", run_shell)):
        if todo[lang]:
            t0 = time.time()
            fn(todo[lang])
            bad = sum(1 for b in todo[lang] if b.error)
            print(f"== {lang}: {len(todo[lang])} block(s), {bad} failed, {time.time() - t0:.1f} s", flush=True)

    if args.verbose:
        for b in blocks:
            if b.outcome == "run" and not b.error:
                print(f"---- {b.name} ({b.lang}): passed\n{b.output.rstrip()}")
    print()
    print(f"{'file':<24} {'run':>4} {'skipped':>8} {'shell':>6} {'output':>7} {'other':>6} {'failed':>7}")
    for n in names:
        mine = [b for b in blocks if b.path == n]
        count = lambda o: sum(1 for b in mine if b.outcome == o)
        print(f"{n:<24} {count('run'):>4} {count('skipped'):>8} {count('shell'):>6} {count('output'):>7} "
              f"{count('other'):>6} {sum(1 for b in mine if b.error):>7}")
    skipped = [b for b in blocks if b.outcome == "skipped"]
    if skipped:
        print("\nskipped blocks:")
        for b in skipped:
            print(f"  {b.name} ({b.lang or 'untagged'}, {b.marker}): {b.reason}")
    failed = [b for b in blocks if b.error]
    for b in failed:
        print(f"\n---- FAILED {b.name} ({b.lang or 'untagged'})\n{b.error.rstrip()}")
    for p in problems:
        print(f"\n---- MARKER {p}")
    if failed or problems:
        print(f"\ndocs check: {len(failed)} block(s) failed, {len(problems)} marker problem(s)")
        return 1
    print(f"\ndocs check: all {sum(1 for b in blocks if b.outcome == 'run')} runnable blocks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
