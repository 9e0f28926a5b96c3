"""Run the Python examples of a Markdown page, in order, in one namespace.

A ```python block followed directly by a ```text block states its output:
the block must print that (numbers equal to 6 significant digits, the rest
exactly, whitespace aside). ``python docs/page_examples.py PAGE`` prints what
each block of PAGE prints, to write those text blocks.
"""
import contextlib
import io
import math
import os
import pathlib
import re
import sys

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
TOKEN = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\S")


def examples(text):
    """[(code, stated output or None)] for each python block of ``text``; the
    code is preceded by blank lines, so that line numbers are the page's."""
    fences = list(FENCE.finditer(text))
    found = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        after = fences[i + 1] if i + 1 < len(fences) else None
        stated = after.group(2) if after is not None and after.group(1) == "text" and \
            not text[fence.end():after.start()].strip() else None
        found.append(("\n" * text.count("\n", 0, fence.start(2)) + fence.group(2), stated))
    return found


def run(path, directory):
    """Run the page's examples inside ``directory``: (namespace, [(code, stated, printed)])."""
    path = pathlib.Path(path)
    namespace, results = {"__name__": "__docs__"}, []
    with contextlib.chdir(directory):
        for code, stated in examples(path.read_text()):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, str(path), "exec"), namespace)
            results.append((code, stated, printed.getvalue()))
    return namespace, results


def _number(token):
    try:
        return float(token)
    except ValueError:
        return None


def same_output(printed, stated):
    """Whether ``printed`` is ``stated``: numbers to 6 significant digits, other
    characters exactly, whitespace ignored."""
    a, b = TOKEN.findall(printed), TOKEN.findall(stated)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        u, v = _number(x), _number(y)
        if u is None or v is None:
            if x != y:
                return False
        elif not math.isclose(u, v, rel_tol=5e-6, abs_tol=1e-12):
            return False
    return True


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as where:
        for code, stated, printed in run(os.path.abspath(sys.argv[1]), where)[1]:
            mark = "" if stated is None else (" (matches)" if same_output(printed, stated)
                                              else " (DIFFERS from the page)")
            print(f"--- {code.strip().splitlines()[0][:70]}{mark}\n{printed}", end="")
