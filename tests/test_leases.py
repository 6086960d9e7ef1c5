"""Engine-wide leases: one holder at a time, or many sharing; a dead holder's lease is freed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from helpers.core import cleanup, leases, session

HOLD = """
import sys, time
from helpers.core import leases
leases.acquire(sys.argv[1], what="the test resource", shared=sys.argv[2] == "shared")
print("held", flush=True)
sys.stdin.read()
"""


def _holder(resource: str, shared: bool = False) -> tuple[subprocess.Popen, str]:
    sid = uuid.uuid4().hex[:8]
    env = {**os.environ, "WORKBOOK_SESSION": sid, "WORKBOOK_NOTEBOOK": "13-holder.ipynb",
           "WORKBOOK_NO_SWEEP": "1", "WORKBOOK_NO_ATEXIT_CLEANUP": "1"}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, resource, "shared" if shared else "x"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc, sid


@pytest.fixture
def resource():
    name = f"test-{uuid.uuid4().hex[:6]}"
    yield name
    leases.release(name)
    for path in leases.leases_dir().glob(f"{name}*"):
        path.unlink(missing_ok=True)


def test_a_second_session_waits_then_says_who_holds_it(resource):
    proc, sid = _holder(resource)
    try:
        said = []
        started = time.monotonic()
        with pytest.raises(leases.LeaseBusy) as caught:
            leases.acquire(resource, what="the test resource", wait=1.0, progress=said.append, every=0.5)
        assert 0.9 < time.monotonic() - started < 5
        assert f"session {sid} (13-holder" in str(caught.value)
        assert "run this cell again" in str(caught.value)
        assert said and said[0].startswith("Waiting for the test resource: session " + sid)
        assert [h["session"] for h in leases.holders(resource)] == [sid]
    finally:
        proc.kill(), proc.wait()


def test_a_killed_holder_frees_the_lease_and_the_sweep_removes_its_note(resource):
    proc, sid = _holder(resource)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert leases.holders(resource) == []           # the OS dropped the lock with the process
    assert f"lease on {resource}" in cleanup.leftovers(sid)
    assert sid in cleanup.sweep_dead_sessions(quiet=True)
    assert not leases.note_path(resource, sid).exists()


def test_taking_over_from_a_killed_holder_removes_what_it_left(resource):
    proc, sid = _holder(resource)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lease = leases.acquire(resource, what="the test resource", wait=2)
    assert lease.held and leases.held(resource) is lease
    assert not leases.note_path(resource, sid).exists() and cleanup.leftovers(sid) == []


def test_the_sweep_never_touches_a_live_sessions_lease(resource):
    proc, sid = _holder(resource)
    try:
        cleanup.sweep_dead_sessions(quiet=True)
        assert leases.note_path(resource, sid).exists()
        assert [h["session"] for h in leases.holders(resource)] == [sid]
    finally:
        proc.kill(), proc.wait()


def test_shared_holders_coexist_and_keep_an_exclusive_taker_out(resource):
    proc, sid = _holder(resource, shared=True)
    try:
        mine = leases.acquire(resource, what="the test resource", shared=True, wait=1)
        assert {h["session"] for h in leases.holders(resource)} == {sid, session.SESSION_ID}
        mine.release()
        with pytest.raises(leases.LeaseBusy):
            leases.acquire(resource, what="the test resource", wait=0, progress=None)
    finally:
        proc.kill(), proc.wait()
    assert leases.acquire(resource, what="the test resource", wait=2).held


def test_taking_a_held_lease_again_returns_it_and_cleanup_gives_it_back(resource):
    first = leases.acquire(resource, what="the test resource")
    assert leases.acquire(resource, what="the test resource") is first
    assert f"lease on {resource}" in cleanup.leftovers()
    leases.CLEANER.remove(session.SESSION_ID)
    assert not first.held and leases.holders(resource) == []
