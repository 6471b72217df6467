#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The chain examples of the man pages run as written.

Every example block (.nf ... .fi) of an EXAMPLES section in doc/*.1,
doc/*.5 and doc/*.7 that is YAML (a whole configuration, a chain's
`filters:`/`admit:` list, or list items of one) is made into a
configuration and given to `qrexec-proxy check`, which loads it and has
every step check its own arguments (QREXEC_PROXY_DIRECTION=check): a
typo in an option, a size or a time in a man page fails here. Shell
examples (a filter run by hand) are left to the reader.

Exit status: 0 pass, 1 fail, 77 skip (no build directory).
"""
import glob
import os
import re
import subprocess
import sys
import tempfile


def unroff(line):
    line = line.replace("\\-", "-").replace("\\(dq", '"').replace("\\e", "\\")
    return re.sub(r"\\f[BIRP]", "", line)


def blocks(path):
    """(first line number, text) of every .nf/.fi block under .SH EXAMPLES."""
    out, in_ex, cur, start = [], False, None, 0
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith(".SH"):
                in_ex = "EXAMPLE" in line
            elif in_ex and line.startswith(".nf"):
                cur, start = [], n + 1
            elif in_ex and line.startswith(".fi") and cur is not None:
                out.append((start, "\n".join(cur)))
                cur = None
            elif cur is not None and not line.startswith("."):
                cur.append(unroff(line))
    return out


def as_config(text, filters):
    """A configuration holding TEXT, or None when it is not a chain example."""
    lines = [l for l in text.split("\n") if l.strip()]
    if not lines:
        return None
    first = lines[0].strip()
    indent = min(len(l) - len(l.lstrip()) for l in lines)
    body = "\n".join(l[indent:] for l in lines)
    head = f'filter_path: ["{filters}"]\n'
    if first.startswith("chains:") or first.startswith("connector:") or first.startswith("filter_path:"):
        if "filter_path:" in body:
            body = re.sub(r"^filter_path:.*$", head.strip(), body, flags=re.M)
            return body + "\n"
        return head + body + "\n"
    if first.startswith(("filters:", "admit:")):
        chain = "\n".join("    " + l for l in body.split("\n"))
        extra = "" if "filters:" in body else "    filters: []\n"
        return head + "chains:\n  example:\n" + chain + "\n" + extra
    if first.startswith("- name:") or first.startswith("- "):
        items = "\n".join("      " + l for l in body.split("\n"))
        return head + "chains:\n  example:\n    filters:\n" + items + "\n"
    return None


def main():
    srcdir = os.environ.get("QP_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    builddir = os.environ.get("QP_BUILDDIR")
    if not builddir:
        print("SKIP: QP_BUILDDIR not set")
        return 77
    prog = os.path.join(builddir, "qrexec-proxy")
    filters = os.path.join(builddir, "filters")
    failed = checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for page in sorted(glob.glob(os.path.join(srcdir, "doc", "*.[157]"))):
            for line, text in blocks(page):
                cfg = as_config(text, filters)
                if cfg is None:
                    continue
                checked += 1
                path = os.path.join(tmp, "example.yaml")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(cfg)
                r = subprocess.run([prog, "check", "--config", path, "--isolation", "seccomp-only"],
                                   capture_output=True, text=True, timeout=120)
                where = f"{os.path.relpath(page, srcdir)}:{line}"
                if r.returncode != 0:
                    failed += 1
                    print(f"FAIL: {where}: qrexec-proxy check exits {r.returncode}:\n{r.stderr}---\n{cfg}")
                else:
                    print(f"PASS: {where}")
    print(f"{checked} examples checked, {failed} failed")
    if checked == 0:
        print("FAIL: no example found: the extraction is broken")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
