"""Remove what a session created, and only that.

Each topic module that creates resources exposes a ``CLEANER`` (a
:class:`Cleaner`): how to list the sessions that own something, what a
session still owns, and how to remove it.  :func:`cleanup` runs them in a
safe order (servers and processes, then Compose projects and swarm
services, then containers before the networks and volumes they use, then
images, then libvirt domains before their networks and pools), treating
"already gone" as success.

:func:`sweep_dead_sessions` does the same for sessions whose kernel died
without cleaning up; it runs when :mod:`helpers` is imported.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
import types
from dataclasses import dataclass
from typing import Callable

from helpers.core import session

# Modules that may own resources, in clean-up order.  A module that cannot
# be imported here (no libvirt bindings, say) owns nothing.
CLEANER_MODULES = (
    "helpers.core.servers",
    "helpers.orchestration.compose",
    "helpers.orchestration.swarm",
    "helpers.containers.engine",
    "helpers.containers.storage",  # host folders used as bind mounts: after the containers using them
    "helpers.virtualization.cleanup",
    "helpers.core.leases",  # last: a lease is given back once what it guarded is gone
)


@dataclass
class Cleaner:
    """How one topic finds and removes a session's resources.

    ``owners()`` returns the session ids that own at least one resource;
    ``leftovers(sid)`` describes what ``sid`` owns (``"container wb-x"``);
    ``remove(sid)`` removes it and returns the descriptions removed.
    """

    topic: str
    owners: Callable[[], set[str]]
    leftovers: Callable[[str], list[str]]
    remove: Callable[[str], list[str]]


def _processes_owners() -> set[str]:
    return set()  # found per session: listing every process's sessions is costly


def _processes_leftovers(sid: str) -> list[str]:
    if sid == session.SESSION_ID:
        return []  # our own children are servers we are still using
    return [f"process {pid}" for pid in session.session_processes(sid)]


def _processes_remove(sid: str) -> list[str]:
    if sid == session.SESSION_ID:
        return []
    pids = session.session_processes(sid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_exists(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _exists(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return [f"process {pid}" for pid in pids]


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it holds no resources any more.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


PROCESS_CLEANER = Cleaner("processes", _processes_owners, _processes_leftovers, _processes_remove)


def cleaners() -> list[Cleaner]:
    """The cleaners of every topic that is usable here, in clean-up order."""
    found = [PROCESS_CLEANER]
    for name in CLEANER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        cleaner = getattr(module, "CLEANER", None)
        if cleaner is not None:
            found.append(cleaner)
    return found


def _safely(fn, *args):
    try:
        return fn(*args)
    except Exception:  # a topic whose service is down owns nothing we can reach
        return None


def leftovers(sid: str | None = None) -> list[str]:
    """What session ``sid`` (default: this one) still owns, described in words."""
    sid = sid or session.SESSION_ID
    found: list[str] = []
    for cleaner in cleaners():
        found += _safely(cleaner.leftovers, sid) or []
    return found


_IN_PROGRESS: set[str] = set()


def cleanup(sid: str | None = None, *, quiet: bool = False) -> list[str]:
    """Remove everything session ``sid`` (default: this one) created.

    Returns what was removed.  Resources of other sessions, and anything not
    created by the workbook, are never touched.
    """
    sid = sid or session.SESSION_ID
    if sid in _IN_PROGRESS:
        return []  # reached again from inside this clean-up (a lease it gives back): nothing more to do
    wait_for_sweep()
    removed: list[str] = []
    _IN_PROGRESS.add(sid)
    try:
        for cleaner in cleaners():
            removed += _safely(cleaner.remove, sid) or []
    finally:
        _IN_PROGRESS.discard(sid)
    if not quiet:
        print(f"Clean-up: removed {len(removed)} resource(s)" + (": " + ", ".join(removed) if removed else "."))
    return removed


_SWEEP: dict = {}


def start_background_sweep() -> None:
    """Sweep dead sessions in a thread, so that ``import helpers`` returns at once.

    The sweep cannot run inside the import itself: cleaners that import
    modules from other threads would wait for the package's import lock.
    In a notebook, what it removed is said at the end of the cell that
    imported helpers (not in whichever cell happens to run when it ends).
    """
    import threading

    shell = _ipython()

    def run():
        try:
            _SWEEP["result"] = sweep_dead_sessions(quiet=shell is not None)
        except Exception as exc:  # housekeeping must never break a notebook
            _SWEEP["error"] = exc

    thread = threading.Thread(target=run, name="workbook-sweep", daemon=True)
    _SWEEP["thread"] = thread
    thread.start()
    if shell is not None:
        def report(*_args):
            shell.events.unregister("post_run_cell", report)
            wait_for_sweep(10)  # a slow sweep must not hold the first cell up
            if thread.is_alive():
                print("(Still removing, in the background, what earlier sessions left behind.)")
            else:
                _say_swept(_SWEEP.get("result") or {})

        shell.events.register("post_run_cell", report)


def _ipython():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "events") else None


def _say_swept(swept: dict[str, list[str]]) -> None:
    if swept:
        total = sum(len(v) for v in swept.values())
        print(f"Removed {total} resource(s) left by {len(swept)} earlier session(s) that ended "
              f"without cleaning up: " + ", ".join(r for v in swept.values() for r in v))


def wait_for_sweep(timeout: float = 120) -> None:
    """Wait until the start-up sweep of dead sessions is over."""
    import threading

    thread = _SWEEP.get("thread")
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


def sweep_dead_sessions(*, quiet: bool = False) -> dict[str, list[str]]:
    """Remove the resources of sessions whose kernel is no longer running."""
    owners: set[str] = set(session.known_sessions())
    for cleaner in cleaners():
        owners |= _safely(cleaner.owners) or set()
    swept: dict[str, list[str]] = {}
    for sid in sorted(owners):
        if session.is_alive(sid):
            continue
        removed = cleanup(sid, quiet=True)
        session.forget(sid)
        if removed:
            swept[sid] = removed
    if not quiet:
        _say_swept(swept)
    return swept


class _CallableModule(types.ModuleType):
    """Lets notebooks write ``helpers.cleanup()`` while ``helpers.cleanup.Cleaner`` stays a module attribute."""

    def __call__(self, sid: str | None = None, *, quiet: bool = False) -> list[str]:
        return cleanup(sid, quiet=quiet)


sys.modules[__name__].__class__ = _CallableModule
