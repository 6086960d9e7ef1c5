"""Errors that speak to a student.

Every helper turns the failures a student can run into (daemon down, port
taken, bad URL, unknown container...) into a :class:`WorkbookError` whose
message is one sentence: what happened and what to do.  In Jupyter the
error is shown as that sentence only, without the library traceback behind
it, because the traceback teaches nothing at that point.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WorkbookError(RuntimeError):
    """A failure explained in one sentence (what happened, what to do)."""

    def _render_traceback_(self):  # IPython hook: show the sentence, not the stack
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class DaemonUnavailable(WorkbookError):
    """A daemon the lesson needs (Docker, libvirtd) does not answer."""


class NotFound(WorkbookError):
    """A named object (container, domain, image...) does not exist."""


class AlreadyInUse(WorkbookError):
    """A name or a port is already taken."""


class WaitTimeout(WorkbookError):
    """Something we waited for did not happen in time."""


def wait_for(condition: Callable[[], T], *, timeout: float, what: str,
             interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns a truthy value and return it.

    Raises :class:`WaitTimeout` naming ``what`` was waited for, so that a
    stuck wait never looks like a hang.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except WorkbookError:
            raise
        except Exception as exc:  # keep polling; report the last cause
            last_error = exc
        if time.monotonic() >= deadline:
            cause = f" (last error: {last_error})" if last_error else ""
            raise WaitTimeout(f"Waited {timeout:g} s for {what}, and it did not happen{cause}.")
        time.sleep(interval)


def run_with_timeout(fn: Callable[[], T], *, timeout: float, what: str) -> T:
    """Run ``fn`` in a daemon thread and give up after ``timeout`` seconds.

    Used for library calls that have no timeout of their own (opening a
    libvirt connection can block forever on a wedged daemon).
    """
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name=f"timeout:{what}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise WaitTimeout(f"Gave up after {timeout:g} s waiting for {what}.")
    if "error" in box:
        raise box["error"]
    return box["value"]


@contextlib.contextmanager
def explained(sentence: str, *exc_types: type[BaseException]):
    """Re-raise any of ``exc_types`` as a :class:`WorkbookError` with ``sentence``."""
    try:
        yield
    except WorkbookError:
        raise
    except exc_types or (Exception,) as exc:
        raise WorkbookError(sentence) from exc
