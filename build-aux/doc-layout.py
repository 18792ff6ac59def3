#!/usr/bin/env python3
"""Writes the file-by-file layout of docs/architecture.md (between the markers
<!-- layout:begin --> and <!-- layout:end -->) from the source tree itself: one
row per C source, with the first sentence of its leading comment, or of its
header's when the .c has none. With --check it only says whether the document
is up to date (exit 1 when not), which the test suite runs.

Usage: build-aux/doc-layout.py [--check] [SRCDIR]"""

import os
import re
import sys

DIRS = [("daemon", "the master process"), ("admin", "the admin API (in the master)"),
        ("workers", "the worker processes (data plane)"), ("common", "shared by the master and the workers")]
BEGIN, END = "<!-- layout:begin -->", "<!-- layout:end -->"


def leading_comment(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read(4000)
    except OSError:
        return ""
    m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    if not m:
        return ""
    words = " ".join(line.strip().lstrip("*").strip() for line in m.group(1).splitlines()).strip()
    words = re.sub(r"\s+", " ", words)
    # The first sentence: up to a period followed by a space or the end.
    s = re.split(r"(?<=[a-z0-9)`'\"])\.(?:\s|$)", words, maxsplit=1)[0]
    return s.rstrip(".") + "."


def describe(src, d, name):
    what = leading_comment(os.path.join(src, d, name))
    base = name[:-2]
    if not what or what.startswith("#include") or " see " in what.lower() and len(what) < 60:
        for h in (base + ".h", base.split("_")[0] + ".h"):
            hw = leading_comment(os.path.join(src, d, h))
            if hw:
                return hw, h
    return what, None


def first_own_header(src, d, name, headers):
    """The header that declares the functions a file defines (files of one
    subsystem often share one): the one naming most of its exported functions."""
    try:
        with open(os.path.join(src, d, name), errors="replace") as f:
            code = f.read()
    except OSError:
        return "(none)"
    defined = set(re.findall(r"^(?!static)[A-Za-z_][^\n;=]*?\b(sl_\w+)\(", code, re.M))
    best, score = None, (0, 0)
    for h in sorted(headers):
        with open(os.path.join(src, d, h), errors="replace") as f:
            text = f.read()
        n = sum(1 for fn in defined if re.search(r"\b%s\(" % re.escape(fn), text))
        prefix = len(os.path.commonprefix([h, name]))  # ties: the header named like the file
        if n and (n, prefix) > score:
            best, score = h, (n, prefix)
    if best:
        return "`%s`" % best
    return "(none: `main`)" if name == "main.c" else "(none)"


def table(src):
    out = []
    for d, role in DIRS:
        files = sorted(f for f in os.listdir(os.path.join(src, d)) if f.endswith(".c"))
        headers = set(f for f in os.listdir(os.path.join(src, d)) if f.endswith(".h"))
        out.append("")
        out.append("**`%s/`**: %s" % (d, role))
        out.append("")
        out.append("| file | what it does | interface |")
        out.append("| --- | --- | --- |")
        for f in files:
            what, from_header = describe(src, d, f)
            h = f[:-2] + ".h"
            iface = "`%s`" % h if h in headers else first_own_header(src, d, f, headers)
            out.append("| `%s` | %s | %s |" % (f, what.replace("|", "\\|") or "(no description)", iface))
    return "\n".join(out) + "\n"


def main():
    args = [a for a in sys.argv[1:] if a != "--check"]
    src = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    doc = os.path.join(src, "docs", "architecture.md")
    with open(doc) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("docs/architecture.md has no %s ... %s section" % (BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + table(src) + END + tail
    if "--check" in sys.argv:
        if new != text:
            print("docs/architecture.md: the layout table is out of date; run build-aux/doc-layout.py")
            sys.exit(1)
        return
    with open(doc, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
