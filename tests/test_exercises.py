"""Every exercise, in its notebook: the starter and the wrong answers never pass, the solution does.

The notebook runs cell by cell in one kernel, as a student would: when it reaches a
cell tagged ``solution`` that ``tests/exercise_cases/nbNN.py`` describes, it runs in
its place the starter (the cell's ``metadata.workbook.starter``, the student edition's cell:
``scripts/editions.py``), then each wrong answer, each followed by the exercise's check
cells (the ``check``-tagged cells right after it): none may pass, and each must show
the hint meant for that mistake.  Then the committed solution and its checks run and
must pass, after every earlier demonstration cell *and* every wrong attempt, so a
check that counts the session's history instead of the student's work fails here.
"""

from __future__ import annotations

import importlib
import os

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.core.verdict import MIME
from notebook_runner import kernel_env, new_session_id, notebook_paths, workbook_meta
from test_notebooks import assert_nothing_left


def _cases():
    only = [p for p in os.environ.get("WORKBOOK_ONLY", "").split(",") if p]
    for path in notebook_paths():
        if only and not any(path.name.startswith(p) for p in only):
            continue
        try:
            module = importlib.import_module(f"exercise_cases.nb{path.name[:2]}")
        except ModuleNotFoundError:
            continue
        yield pytest.param(path, module.CASES, id=path.stem)


def verdicts(cell) -> list[dict]:
    """The verdicts a check cell displayed (``helpers.core.verdict.Verdict``), with their text."""
    found = []
    for out in cell.get("outputs", []):
        data = out.get("data") or {}
        if MIME in data:
            found.append({**data[MIME], "text": data.get("text/plain", "")})
    return found


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts.append((out.get("data") or {}).get("text/plain", ""))
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "\n".join(parts)


def _run(client, source: str, index: int, allow_error: bool = False):
    cell = nbformat.v4.new_code_cell(source)
    if allow_error:
        cell.metadata["tags"] = ["raises-exception"]  # a wrong answer may raise: the check still runs
    client.execute_cell(cell, index)
    return cell


def _attempt(client, source: str, checks: list, index: int) -> tuple[list[dict], str]:
    answer = _run(client, source, index, allow_error=True)
    results, text = [], _text(answer)
    for check in checks:
        cell = _run(client, check.source, index, allow_error=True)
        results += verdicts(cell)
        text += "\n" + _text(cell)
    return results, text


@pytest.mark.notebook
@pytest.mark.parametrize("path,cases", list(_cases()))
def test_exercises_judge_the_work_in_their_notebook(path, cases):
    nb = nbformat.read(path, as_version=4)
    solutions = {c.get("id"): i for i, c in enumerate(nb.cells) if "solution" in c.metadata.get("tags", [])}
    assert set(cases) <= set(solutions), f"cases for cells that are not tagged solution: {set(cases) - set(solutions)}"
    env = (workbook_meta(path).get("variants") or [{}])[0]
    sid = new_session_id()
    client = NotebookClient(nb, timeout=workbook_meta(path).get("timeout", 600), kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    problems = []
    with client.setup_kernel(env=kernel_env(path, sid, env)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            case = cases.get(cell.get("id"))
            if case is not None:
                checks = []
                for later in nb.cells[index + 1:]:
                    if later.cell_type == "markdown":
                        continue
                    if "check" not in later.metadata.get("tags", []):
                        break
                    checks.append(later)
                assert checks, f"{path.name}: solution cell {cell.get('id')} has no check cell after it"
                starter = cell.metadata.get("workbook", {}).get("starter")
                assert starter, f"{path.name}: solution cell {cell.get('id')} has no metadata.workbook.starter"
                attempts = [("the starter", starter, case.get("starter_hint", "not attempted"))]
                attempts += [(f"wrong answer {n}", code, hint) for n, (code, hint) in enumerate(case["wrong"], 1)]
                assert len(case["wrong"]) >= 2, f"{path.name}: cell {cell.get('id')} needs two wrong answers"
                for what, code, hint in attempts:
                    results, text = _attempt(client, code, checks, index)
                    if not results:
                        problems.append(f"{cell.get('id')}: {what} gave no verdict:\n{text[-800:]}")
                    elif any(r["passed"] for r in results):
                        problems.append(f"{cell.get('id')}: {what} PASSED:\n{text[-800:]}")
                    elif hint.lower() not in text.lower():
                        problems.append(f"{cell.get('id')}: {what} lacks the hint {hint!r}:\n{text[-800:]}")
            client.execute_cell(cell, index)
            if "check" in cell.metadata.get("tags", []):
                results = verdicts(cell)
                if not results or not all(r["passed"] for r in results):
                    problems.append(f"{cell.get('id')}: the committed solution does not pass:\n{_text(cell)[-800:]}")
    assert_nothing_left(sid)
    assert not problems, "\n\n".join(problems)
