"""A griffe extension for the API reference (mkdocs.yml loads it): the
docstrings' doctest examples (``>>>`` lines and their output) become Python
console code blocks instead of Markdown block quotes."""
from typing import Any

import griffe


def fenced(text: str) -> str:
    """``text`` with each run of doctest lines (up to a blank line) fenced as pycon."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        indent = len(lines[i]) - len(lines[i].lstrip())
        out.append("```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i][indent:])
            i += 1
        out.append("```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced(obj.docstring.value)
