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


# --- one explainer for the libraries' own errors, and the notebook's exception handler ----------

def _library(module: str):
    """The library's module, or None where it is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _raised_by(exc, module: str, base: str):
    """``module`` when ``exc`` is one of its errors (an instance of ``module.base``), else None."""
    mod = _library(module)
    return mod if mod is not None and isinstance(exc, getattr(mod, base)) else None


def _docker_sentence(exc) -> str | None:
    de = _raised_by(exc, "docker.errors", "DockerException")
    if de is None:
        return None
    text = getattr(exc, "explanation", None) or str(exc)
    low = text.lower()
    if isinstance(exc, de.ImageNotFound):
        return f"The image does not exist here ({text}): build it or check its name (docker images)."
    if isinstance(exc, de.ContainerError):
        err = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return (f"The command in the container exited with code {exc.exit_status}"
                + (f": {err[-1]}" if err else "") + ".")
    if isinstance(exc, de.NotFound):
        return (f"Docker has no such object ({text}): list what exists with docker ps -a, "
                f"docker network ls or docker volume ls.")
    url = getattr(getattr(exc, "response", None), "url", "") or ""
    if "/plugins/" in url and any(w in low for w in ("registry", "dial tcp", "lookup", "denied")):
        return (f"The plugin could not be fetched ({text.splitlines()[0][:120]}): plugins come from an image "
                f"registry, and none answers here.")
    if any(w in low for w in ("pull access denied", "manifest unknown", "registry", "dial tcp")):
        return (f"The image is not here and no registry could give it ({text.splitlines()[0][:120]}): "
                f"build it on this machine (docker build, or helpers.containers.base_images.ensure_image for the chapter's "
                f"images) or check its name.")
    if "port is already allocated" in low or "address already in use" in low:
        return "That host port is already in use: publish another port, or stop what uses it."
    if "is already in use" in low or "already exists" in low:
        return ("That name is already taken by another object: pick another name, or remove the old one "
                "(docker rm -f NAME, docker network rm NAME).")
    if "cannot start a paused container" in low:
        return "The container is paused: unpause it (box.unpause(), docker unpause) instead of starting it."
    if "is already paused" in low:
        return "The container is already paused: unpause it (box.unpause(), docker unpause) to let it run again."
    if "is not paused" in low:
        return "The container is not paused, so there is nothing to unpause."
    if "is paused" in low:
        return "The container is paused: unpause it first (box.unpause(), docker unpause)."
    if "is not running" in low:
        return "The container is not running: start it first (its state: box.reload(); box.status, docker ps -a)."
    if "cannot remove a running container" in low or "cannot remove a paused container" in low:
        return ("The container is still running: stop it first, or remove it with force=True (docker rm -f).")
    if "has active endpoints" in low:
        return ("Containers are still attached to the network: disconnect or remove them first "
                "(docker network disconnect, docker rm -f).")
    if "permission denied" in low and "docker.sock" in low:
        return ("You may not talk to the Docker daemon: sudo usermod -aG docker $USER, then log out and in.")
    if isinstance(exc, de.APIError):
        return f"The Docker engine refused: {text}."
    return ("The Docker daemon does not answer: start it (sudo systemctl start docker, or make lab as root, "
            "or Docker Desktop) and run the cell again.")


def _requests_sentence(exc) -> str | None:
    requests = _raised_by(exc, "requests", "RequestException")
    if requests is None:
        return None
    url = getattr(getattr(exc, "request", None), "url", None) or ""
    where = f" {url}" if url else ""
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL)):
        return f"That is not a full URL ({exc}): write it as http://HOST:PORT/PATH."
    if isinstance(exc, requests.Timeout):
        return f"No answer from{where} in time: is the server busy or stuck? Try again, or raise timeout=."
    if isinstance(exc, requests.ConnectionError):
        return f"Nothing answers at{where}: is the server running, and are the host and port right?"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"{exc.response.url} answered {exc.response.status_code} {exc.response.reason}."
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return "The answer is not JSON: print response.text to see what the server sent."
    return f"The request failed: {exc}."


def _libvirt_sentence(exc) -> str | None:
    libvirt = _raised_by(exc, "libvirt", "libvirtError")
    if libvirt is None:
        return None
    code, text = exc.get_error_code(), (exc.get_error_message() or str(exc))
    # The XML parser's message spans lines (the line, a caret under the column): one sentence keeps
    # its first line, which names the problem.
    text = (text.strip().splitlines() or [""])[0].rstrip(".")
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        return f"libvirt has no such domain ({text}): list them with conn.listAllDomains() or virsh list --all."
    if code in (libvirt.VIR_ERR_NO_NETWORK, libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_NO_STORAGE_VOL):
        return f"libvirt has no such object ({text}): list them with virsh net-list / pool-list / vol-list."
    if code in (libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_ERR_XML_DETAIL):
        return f"libvirt rejected the XML ({text}): compare it with the example above."
    if code == libvirt.VIR_ERR_OPERATION_INVALID:
        return f"That is not possible in the object's present state ({text}): check its state first."
    if code == libvirt.VIR_ERR_OPERATION_DENIED or "read-only" in text.lower():
        return f"This connection may not do that ({text}): open a read-write connection."
    if code == libvirt.VIR_ERR_SYSTEM_ERROR and "connect" in text.lower():
        return f"libvirtd does not answer ({text}): start it (sudo systemctl start libvirtd)."
    return f"libvirt refused: {text}."


def explain(exc: BaseException) -> str | None:
    """One sentence (what happened, what to do) for an error of the workbook, the Docker SDK,
    ``requests`` or libvirt, or a failed ``!command``; ``None`` for anything else (that keeps its
    normal traceback)."""
    import subprocess

    if isinstance(exc, WorkbookError):
        return str(exc)
    if isinstance(exc, subprocess.CalledProcessError):
        cmd = exc.cmd
        if isinstance(cmd, bytes):  # a %%bash cell: its whole script
            cmd = cmd.decode(errors="replace")
        elif not isinstance(cmd, str):
            cmd = " ".join(map(str, cmd))
        lines = [line for line in cmd.strip().splitlines() if line.strip()]
        what = f"`{lines[0]}`" if len(lines) == 1 else f"The {len(lines)}-line script"
        return (f"{what} failed with exit code {exc.returncode}: its own message is just above; "
                f"fix the command and run the cell again.")
    for sentence in (_docker_sentence, _requests_sentence, _libvirt_sentence):
        found = sentence(exc)
        if found:
            return found
    return None


def as_workbook_error(exc: BaseException) -> WorkbookError:
    """The :class:`WorkbookError` a helper raises for a library error: :func:`explain`'s sentence, as the
    subclass that says what kind of failure it is (a name or port taken is :class:`AlreadyInUse`, a missing
    object :class:`NotFound`, a daemon that does not answer :class:`DaemonUnavailable`)."""
    if isinstance(exc, WorkbookError):
        return exc
    sentence = explain(exc) or f"{type(exc).__name__}: {exc}"
    kind = WorkbookError
    de = _raised_by(exc, "docker.errors", "DockerException")
    if de is not None:
        low = (getattr(exc, "explanation", None) or str(exc)).lower()
        if isinstance(exc, de.NotFound):
            kind = NotFound
        elif "already" in low and ("in use" in low or "allocated" in low or "exists" in low):
            kind = AlreadyInUse
        elif not isinstance(exc, (de.APIError, de.ContainerError)) and sentence.startswith("The Docker daemon"):
            kind = DaemonUnavailable
    return kind(sentence)


def explained_types() -> tuple[type[BaseException], ...]:
    """The exception classes :func:`explain` speaks about (those whose library is installed)."""
    import subprocess

    found: list[type[BaseException]] = [WorkbookError, subprocess.CalledProcessError]
    for module, name in (("docker.errors", "DockerException"), ("requests", "RequestException"),
                         ("libvirt", "libvirtError")):
        mod = _library(module)
        if mod is not None and hasattr(mod, name):
            found.append(getattr(mod, name))
    return tuple(found)


def still_held() -> str:
    """What this session still holds, in one sentence (empty when nothing)."""
    from collections import Counter

    from helpers.core import cleanup

    try:
        kinds = Counter(item.split()[0] for item in cleanup.leftovers())
    except Exception:  # a daemon that does not answer: nothing more to say
        return ""
    if not kinds:
        return ""
    parts = [f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in kinds.items()]
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return (f"This notebook still holds {listed}: they keep running until you run its last cell, "
            f"helpers.cleanup(), or close the notebook's kernel.")


def _handler(shell, etype, value, tb, tb_offset=None):
    """IPython's custom exception handler: the sentence in red, what is still held, how to see more."""
    import sys

    sentence = explain(value)
    if sentence is None:  # not ours to explain after all
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # so that %tb shows everything
    lines = [f"\x1b[31m{etype.__name__}\x1b[0m: {sentence}"]
    held = still_held()
    if held:
        lines.append(held)
    lines.append("(The full traceback: run %tb in a new cell.)")
    shell._showtraceback(etype, sentence, lines)
    return None


def install_notebook_handler() -> bool:
    """Register :func:`_handler` in the running IPython kernel (does nothing elsewhere)."""
    import sys

    if "IPython" not in sys.modules:  # a plain Python process (a service a notebook started)
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    shell.set_custom_exc(explained_types(), _handler)
    # `!docker run ...` that fails stops the cell (and Run All), as a failed SDK call does.
    shell.system_raise_on_error = True
    return True
