"""Every notebook runs end to end in two sessions at once, and each leaves nothing behind.

The first run starts; two seconds later a second run of the same notebook
starts in a fresh kernel of another workbook session, while the first is
still running (two students on one machine, or one student with two tabs).
Both must pass, leave nothing behind (neither what carries their session's
label or name, nor a new object that no session owns: :mod:`unowned`), and
open no port on every interface that :data:`listen_watch.ALLOWED` does not explain.

A notebook may list ``variants`` in ``metadata.workbook``: environments to
run it under (e.g. the libvirt URI); each variant is run that way.
``WORKBOOK_ONLY=03,05`` restricts the run to notebooks whose name starts so;
``WORKBOOK_STAGGER`` sets the delay of the second run (seconds, default 2: short notebooks overlap too).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers.core import cleanup, session
import unowned
from listen_watch import Watcher
from notebook_runner import execute, new_session_id, notebook_paths, workbook_meta

STAGGER = float(os.environ.get("WORKBOOK_STAGGER", "2"))
TIMES = Path(__file__).resolve().parent.parent / "artifacts" / "two-sessions.log"


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
    assert not left, f"session {sid}: the notebook left resources behind: {left}"
    assert not procs, f"session {sid}: the notebook left processes running: {procs}"


def _run(path, sid, env, timeout, delay):
    time.sleep(delay)
    started = time.monotonic()
    with Watcher(sid) as watch:
        nb = execute(path, sid, env, cell_timeout=timeout)
    return (started, time.monotonic()), sorted(watch.seen), failing_checks(nb) + echoed_values(nb)


#: Return values that, echoed as ``Out[n]`` under a call, tell a student nothing (or mislead).
BARE = {"True", "False", "None", "0", "[]", "{}", "()", "''"}


def echoed_values(nb) -> list[str]:
    """Cells whose only result shown is a bare value (``Out: False`` under a check reads like the answer)."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result":
                text = (out.get("data") or {}).get("text/plain", "").strip()
                if text in BARE:
                    found.append(f"cell {cell.get('id')} echoes Out: {text} (end it with ';' or print)")
    return found


def failing_checks(nb) -> list[str]:
    """Check cells (tagged ``check``) whose verdict does not pass with the committed solution."""
    from test_exercises import verdicts

    bad = []
    for cell in nb.cells:
        if "check" in cell.metadata.get("tags", []):
            found = verdicts(cell)
            if not found or not all(v["passed"] for v in found):
                bad.append(f"cell {cell.get('id')}: " + (" / ".join(v["text"] for v in found) or "no verdict"))
    return bad


@pytest.mark.notebook
@pytest.mark.parametrize("path,env,timeout", list(_cases()))
def test_notebook_runs_in_two_sessions_at_once_and_leaves_nothing(path, env, timeout):
    sids = [new_session_id(), new_session_id()]
    before = unowned.snapshot()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_run, path, sid, env, timeout, i * STAGGER) for i, sid in enumerate(sids)]
        results = [f.exception() or f.result() for f in futures]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:  # the run's own error first: what it left behind follows from it
        for sid in sids:
            cleanup.cleanup(sid, quiet=True)
        raise failed[0]
    for sid in sids:
        assert_nothing_left(sid)
    leaks = unowned.new_unowned(before, unowned.snapshot())
    assert not leaks, f"{path.name} created objects that no session owns (no session label, no wb- name): {leaks}"
    t0 = results[0][0][0]
    for sid, ((start, end), wildcards, bad_checks) in zip(sids, results):
        line = f"{path.stem} {env or ''} session {sid}: ran from {start - t0:.1f} s to {end - t0:.1f} s ({end - start:.1f} s)"
        print(line)
        TIMES.parent.mkdir(exist_ok=True)
        with TIMES.open("a") as log:  # the times of every run, for the notes (artifacts/ is not committed)
            log.write(line + "\n")
        assert not wildcards, f"session {sid} listened on every interface: {wildcards}"
        assert not bad_checks, f"session {sid}: checks that fail or cells that echo bare values: {bad_checks}"
