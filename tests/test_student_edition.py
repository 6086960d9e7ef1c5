"""The student edition (``make student``): no solution in it, and every check says "not attempted yet".

It is made from the committed notebooks by ``scripts/editions.py student``: each cell tagged
``solution`` becomes its ``metadata.workbook.starter`` followed by its hint, collapsed.  Executed
end to end as a student who runs every cell without writing anything would, each check must
answer the untouched starter with a verdict that is not a pass, says "not attempted yet" and
gives a hint, never a traceback.  (The instructor edition, today's notebooks, passes every
check: tests/test_notebooks.py and tests/test_exercises.py.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import re

import nbformat
import pytest

from helpers.core import cleanup
from notebook_runner import ROOT, execute, new_session_id, notebook_paths, workbook_meta
from test_exercises import verdicts
from test_notebooks import assert_nothing_left

_spec = importlib.util.spec_from_file_location("editions", ROOT / "scripts" / "editions.py")
editions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(editions)


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return {p.name: p for p in editions.student(out)}


def _lines(source: str) -> set[str]:
    """The non-trivial lines of some code: stripped, whitespace squeezed, no comments, no bare syntax."""
    found = set()
    for line in source.splitlines():
        line = re.sub(r"\s+", " ", line.strip())
        if line.startswith("#") or len(re.sub(r"[\W_]", "", line)) < 4:
            continue
        found.add(line)
    return found


def test_every_solution_has_a_starter_and_a_hint():
    for path in notebook_paths():
        for cell in nbformat.read(path, as_version=4).cells:
            if "solution" in cell.metadata.get("tags", []):
                meta = cell.metadata.get("workbook", {})
                assert meta.get("starter"), f"{path.name} cell {cell.get('id')}: no metadata.workbook.starter"
                assert meta.get("hint"), f"{path.name} cell {cell.get('id')}: no metadata.workbook.hint"


def test_no_line_of_a_solution_survives_in_the_student_edition(edition):
    problems = []
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        scaffold, answer = set(), set()
        for cell in nb.cells:
            if "solution" in cell.metadata.get("tags", []):
                answer |= _lines(cell.source)
                scaffold |= _lines(cell.metadata["workbook"]["starter"])
            elif "instructor" not in cell.metadata.get("tags", []):
                scaffold |= _lines(cell.source)  # a line the lesson shows elsewhere gives nothing away
        secret = answer - scaffold
        student = nbformat.read(edition[path.name], as_version=4)
        text = "\n".join(c.source for c in student.cells) + json.dumps([c.metadata for c in student.cells])
        seen = _lines(text)
        problems += [f"{path.name}: {line!r}" for line in sorted(secret & seen)]
        assert not any("solution" in c.metadata.get("tags", []) for c in student.cells), path.name
    assert not problems, "solution lines in the student edition:\n" + "\n".join(problems)


def test_hints_are_collapsed(edition):
    for name, path in edition.items():
        for cell in nbformat.read(path, as_version=4).cells:
            if "hint" in cell.metadata.get("tags", []):
                assert cell.source.startswith("<details>") and cell.source.endswith("</details>"), name


def _cases():
    only = [p for p in os.environ.get("WORKBOOK_ONLY", "").split(",") if p]
    for path in notebook_paths():
        if not only or any(path.name.startswith(p) for p in only):
            yield pytest.param(path.name, id=path.stem)


@pytest.mark.notebook
@pytest.mark.parametrize("name", list(_cases()))
def test_student_edition_runs_and_no_check_passes(edition, name):
    path = edition[name]
    meta = workbook_meta(ROOT / "notebooks" / name)
    env = (meta.get("variants") or [{}])[0]
    sid = new_session_id()
    try:
        nb = execute(path, sid, env, cell_timeout=meta.get("timeout", 600))
    except BaseException:
        cleanup.cleanup(sid, quiet=True)  # the run's own error first: what it left follows from it
        raise
    assert_nothing_left(sid)
    problems, checked = [], 0
    for cell in nb.cells:
        if "check" not in cell.metadata.get("tags", []):
            continue
        found = verdicts(cell)
        checked += 1
        if not found:
            problems.append(f"cell {cell.get('id')}: no verdict")
        for v in found:
            if v["passed"]:
                problems.append(f"cell {cell.get('id')}: PASSED on the starter:\n{v['text']}")
            elif v.get("attempted", True) or "not attempted yet" not in v["text"].lower():
                problems.append(f"cell {cell.get('id')}: does not say 'not attempted yet':\n{v['text']}")
            elif not v.get("hints"):
                problems.append(f"cell {cell.get('id')}: not attempted, but no hint:\n{v['text']}")
    assert checked, f"{name}: no check cell ran"
    assert not problems, "\n\n".join(problems)
