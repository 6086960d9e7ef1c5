"""Every notebook runs end to end, twice in a row, and leaves nothing behind.

A notebook may list ``variants`` in ``metadata.workbook``: environments to
run it under (e.g. the libvirt URI); each variant is run twice.
``WORKBOOK_ONLY=03,05`` restricts the run to notebooks whose name starts so.
"""

from __future__ import annotations

import os

import pytest

from helpers import cleanup, session
from notebook_runner import execute, new_session_id, notebook_paths, workbook_meta


def _cases():
    only = [p for p in os.environ.get("WORKBOOK_ONLY", "").split(",") if p]
    for path in notebook_paths():
        if only and not any(path.name.startswith(p) for p in only):
            continue
        meta = workbook_meta(path)
        variants = meta.get("variants") or [{}]
        for i, env in enumerate(variants):
            tag = ",".join(f"{v}" for v in env.values()) or "default"
            yield pytest.param(path, env, meta.get("timeout", 600), id=f"{path.stem}[{tag}]")


def assert_nothing_left(sid: str) -> None:
    left = cleanup.leftovers(sid)
    procs = session.session_processes(sid)
    if left or procs:
        cleanup.cleanup(sid, quiet=True)  # do not poison the next test
    assert not left, f"the notebook left resources behind: {left}"
    assert not procs, f"the notebook left processes running: {procs}"


@pytest.mark.notebook
@pytest.mark.parametrize("path,env,timeout", list(_cases()))
def test_notebook_runs_twice_and_leaves_nothing(path, env, timeout):
    for run in (1, 2):
        sid = new_session_id()
        execute(path, sid, env, cell_timeout=timeout)
        assert_nothing_left(sid)
