#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""README's "Layout" against the tree: every module of orchestrator/ (a .c
file, or a header without one) is listed there with a line of its own,
nothing listed there is missing, and every top-level directory and page
the README names exists. Prints TAP-like lines and "N passed, M failed"."""
import os
import re
import sys

top = os.environ.get("QP_SRCDIR") or os.environ.get("srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
passed = failed = 0


def result(ok, what, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}: {why}")


readme = open(os.path.join(top, "README"), encoding="utf-8").read()
m = re.search(r"\nLayout\n-+\n(.*?)\n\n\S[^\n]*\n-+\n", readme, re.S)
result(m is not None, "README has a Layout section", "no 'Layout' heading followed by another section")
layout = m.group(1) if m else ""
block = [l for l in layout.split("\n") if l.startswith("    ")]

# the orchestrator's modules, as the tree has them
odir = os.path.join(top, "orchestrator")
files = set(os.listdir(odir))
modules = {f for f in files if f.endswith(".c")}
modules |= {f for f in files if f.endswith(".h") and f[:-2] + ".c" not in files}

# as README lists them: the indented lines after "orchestrator/"
listed = []
inside = False
for l in block:
    if l.startswith("    orchestrator/"):
        inside = True
        continue
    if inside and l.startswith("      ") and not l.startswith("       "):
        name = l.split()[0]
        listed.append(name)
    elif inside and not l.startswith("      "):
        inside = False
for name in sorted(modules):
    result(name in listed, f"Layout lists orchestrator/{name}", "add a line for it under orchestrator/")
for name in listed:
    result(name in modules, f"orchestrator/{name} (listed) exists", "remove it from Layout or restore the file")
result(len(listed) == len(set(listed)), "no module is listed twice", ", ".join(sorted({n for n in listed if listed.count(n) > 1})))

# the top-level entries and the pages named
for l in block:
    if l.startswith("    ") and not l.startswith("     "):
        for word in re.split(r",\s*", l[4:].split("  ")[0].strip()):
            if word:
                result(os.path.exists(os.path.join(top, word.rstrip("/"))), f"{word} exists", "named in Layout")
for page in sorted(set(re.findall(r"\bdoc/[\w.-]+\.md\b", readme))):
    result(os.path.exists(os.path.join(top, page)), f"{page} exists", "named in README")
lines = readme.count("\n")
result(lines <= 300, f"README is {lines} lines (at most 300)", "move the detail to a page of doc/")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
