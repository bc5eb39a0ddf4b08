#!/usr/bin/env python3
"""Lists the functions in src/ longer than a limit (default 150 lines) and exits 1 if any.

A function's length runs from the line of its `fn` keyword to the line of its body's
closing brace, both included. Braces are matched by a small scanner that skips comments
(line, nested block), string literals (plain, byte, C, raw with any number of `#`) and
char literals (telling them from lifetimes), so braces inside them do not count.

Usage: python3 scripts/long_fns.py [--max N] [PATH ...]   (default PATH: src)
"""

import os
import sys

DEFAULT_MAX = 150


def is_ident(c):
    return c.isalnum() or c == "_"


def tokens(text):
    """Yields (kind, value, line) for the code outside comments and literals: kind is
    'ident' (an identifier or keyword), 'punct' (one of `{ } ;`) or 'other' (any other
    character but spaces)."""
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += text[i] == "\n"
                    i += 1
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                line += i < n and text[i] == "\n"
                i += 1
            i += 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime / label ('a, 'static).
            if i + 1 < n and text[i + 1] == "\\":
                j = i + 2
                while j < n and text[j] != "'":
                    j += 1
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                i += 3
            else:
                i += 1
        elif is_ident(c):
            j = i
            while j < n and is_ident(text[j]):
                j += 1
            word = text[i:j]
            # Raw strings: r"..", r#".."#, br"..", cr"..".
            if word in ("r", "br", "cr") and j < n and text[j] in '#"':
                k = j
                while k < n and text[k] == "#":
                    k += 1
                if k < n and text[k] == '"':
                    end = '"' + "#" * (k - j)
                    e = text.find(end, k + 1)
                    e = n if e < 0 else e + len(end)
                    line += text.count("\n", i, e)
                    i = e
                    continue
            yield ("ident", word, line)
            i = j
        elif c in "{};":
            yield ("punct", c, line)
            i += 1
        else:
            if not c.isspace() and c != "$":  # `$` of a macro's `fn $name`
                yield ("other", c, line)
            i += 1


def functions(text):
    """Yields (name, first line, last line) for every function with a body."""
    stack = []  # per open brace: the (name, line) of the function it opens, or None
    pending = None  # a function whose body has not opened yet: (name, line of `fn`)
    fn_line = None  # the line of a `fn` keyword just seen, until its name comes
    for kind, value, line in tokens(text):
        if kind == "ident":
            if fn_line is not None:
                pending, fn_line = (value, fn_line), None
            elif value == "fn":
                fn_line = line
        elif kind == "other":
            fn_line = None  # `fn(` of a function pointer type: no name, no body
        elif value == "{":
            stack.append(pending)
            pending = None
        elif value == "}":
            if stack:
                opened = stack.pop()
                if opened is not None:
                    yield (opened[0], opened[1], line)
        elif value == ";":
            pending = None  # a declaration without a body (trait method, extern)


def rust_files(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, dirs, files in os.walk(p):
            dirs.sort()
            for f in sorted(files):
                if f.endswith(".rs"):
                    yield os.path.join(root, f)


def main(argv):
    limit, paths = DEFAULT_MAX, []
    args = iter(argv)
    for a in args:
        if a == "--max":
            try:
                limit = int(next(args))
            except (StopIteration, ValueError):
                print("--max needs a whole number", file=sys.stderr)
                return 2
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        else:
            paths.append(a)
    if not paths:
        here = os.path.dirname(os.path.abspath(__file__))
        paths = [os.path.join(os.path.dirname(here), "src")]
    long = []
    for path in rust_files(paths):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name, first, last in functions(text):
            length = last - first + 1
            if length > limit:
                long.append((length, os.path.relpath(path), first, name))
    for length, path, first, name in sorted(long, reverse=True):
        print(f"{path}:{first}: fn {name}: {length} lines (over {limit})")
    if long:
        print(f"{len(long)} function(s) over {limit} lines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
