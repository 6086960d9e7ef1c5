"""Every markdown cell renders: no broken inline code, no stray emphasis markers, no raw HTML tags left open.

Rendered with markdown-it-py (CommonMark, as JupyterLab's marked renders it, plus tables), then
the text outside code is searched for markers that should have been consumed by the rendering.
"""

from __future__ import annotations

import html
import re

import nbformat
import pytest
from markdown_it import MarkdownIt

from notebook_runner import notebook_paths

MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
_CODE = re.compile(r"<(code|pre)[^>]*>.*?</\1>", re.S)
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)  # JupyterLab renders $...$ as math


def problems(source: str) -> list[str]:
    rendered = _CODE.sub(" ", MD.render(_MATH.sub(" ", source)))
    text = html.unescape(re.sub(r"<[^>]+>", " ", rendered))
    found = []
    if "`" in text:
        found.append("a backtick was not consumed (unbalanced or broken inline code)")
    if "**" in text or "__" in text:
        found.append("bold markers (** or __) were not consumed")
    if re.search(r"(?<![\w*])\*(?=\w)|(?<=\w)\*(?![\w*])", text):
        found.append("an emphasis marker (*) was not consumed")
    return found


def _cells():
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                yield pytest.param(cell.source, id=f"{path.stem}-{cell.get('id', i)}")


@pytest.mark.parametrize("source", list(_cells()))
def test_markdown_cell_renders(source):
    assert not problems(source), problems(source)


def test_the_checker_sees_broken_inline_code():
    assert problems(r"Run `echo \`date\`` on the host.")        # escaped backticks inside a code span
    assert problems("A **bold start and no end.")
    assert problems("An *emphasis that never ends.")
    assert not problems("Run ``echo `date` `` on the host, **bold**, *it*, 2 * 3 = 6.")
