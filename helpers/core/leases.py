"""Engine-wide leases: what exists once per engine or host, taken by one session at a time.

Most of what a notebook creates belongs to its session alone (``wb-<session>-``
names, session labels), so two kernels never meet.  A few things exist only
once on a machine: swarm mode of the Docker engine, a macvlan network on the
host's LAN interface, a host port that the chapter names (the registry's
5000).  A session that wants one of them takes its *lease* first::

    lease = leases.acquire("macvlan-eth0", what="the macvlan network on eth0")
    ...                      # create it, show it, remove it
    lease.release()

A lease is an ``flock`` on a file in a folder shared by every user of the
machine, with the owning session written beside it.  The kernel holds the
lock for as long as it uses the thing; when the kernel dies, the operating
system drops the lock by itself, and the next sweep removes the dead
session's note.  A second session that asks for a held lease waits, printing
who holds it, and gives up after ``wait`` seconds with one sentence
(:class:`LeaseBusy`) that says which session holds it and what to do.

A *shared* lease (``shared=True``) may be held by many sessions at once (all
of them use swarm mode, each with its own services); an exclusive lease on
the same name waits until none of them holds it (to leave swarm mode).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import WorkbookError


class LeaseBusy(WorkbookError):
    """Another live session holds what this one needs, and waiting did not help."""


def leases_dir() -> Path:
    """One folder for every user of this machine (``$WORKBOOK_LEASES`` or ``/tmp/cloud-workbook-leases``)."""
    path = Path(os.environ.get("WORKBOOK_LEASES") or "/tmp/cloud-workbook-leases")
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        try:
            path.chmod(0o1777)  # any user may take a lease; only the owner may delete its notes
        except PermissionError:
            pass
    return path


def _safe(resource: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", resource)


def _open(path: Path) -> int:
    # Open without O_CREAT first: in a sticky world-writable folder, the kernel
    # refuses O_CREAT on another user's file (fs.protected_regular).
    try:
        return os.open(path, os.O_RDWR)
    except FileNotFoundError:
        pass
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            os.fchmod(fd, 0o666)
        except PermissionError:
            pass
        return fd
    except FileExistsError:
        return os.open(path, os.O_RDWR)


@dataclass
class Lease:
    """A lease this session holds; :meth:`release` gives it back (idempotent)."""

    resource: str
    what: str
    shared: bool
    fd: int | None = field(default=None, repr=False)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is None:
            return
        note_path(self.resource, session.SESSION_ID).unlink(missing_ok=True)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
        _HELD.pop(self.resource, None)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


#: The leases this kernel holds, by resource.
_HELD: dict[str, Lease] = {}


def _lock_path(resource: str) -> Path:
    return leases_dir() / f"{_safe(resource)}.lock"


def note_path(resource: str, sid: str) -> Path:
    """Where session ``sid`` writes that it holds ``resource``."""
    return leases_dir() / f"{_safe(resource)}@{sid}.json"


def host_port(port: int) -> str:
    """The lease's name for a fixed host port a lesson names (``host-port-5000``)."""
    return f"host-port-{port}"


def holders(resource: str) -> list[dict]:
    """The live sessions that hold ``resource``: ``{"session", "notebook", "pid", "since", "shared"}``."""
    found = []
    for path in sorted(leases_dir().glob(f"{_safe(resource)}@*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if info.get("session") == session.SESSION_ID and resource not in _HELD:
            continue  # a note of ours left by a release that was interrupted
        if session.is_alive(info.get("session", "")):
            found.append(info)
    return found


def describe(info: dict) -> str:
    """``session 1a2b3c4d (13-orchestration, since 10:02:11)``."""
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return f"session {info.get('session')} ({info.get('notebook')}, since {since})"


def acquire(resource: str, *, what: str, shared: bool = False, wait: float = 600,
            progress: Callable[[str], None] | None = print, every: float = 15) -> Lease:
    """Take the lease on ``resource`` for this session, waiting up to ``wait`` seconds.

    Taking a lease this session already holds returns it (re-running a cell
    is harmless).  While another session holds it, prints who does, once and
    then every ``every`` seconds; after ``wait`` seconds raises
    :class:`LeaseBusy` naming the holder.
    """
    held = _HELD.get(resource)
    if held is not None and held.held and (held.shared == shared or not shared):
        return held
    if held is not None:
        held.release()  # changing from shared to exclusive: queue again
    fd = _open(_lock_path(resource))
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    started = time.monotonic()
    told = None
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            waited = time.monotonic() - started
            others = holders(resource)
            who = ", ".join(describe(h) for h in others) or "another session"
            if waited >= wait:
                raise LeaseBusy(
                    f"{what[:1].upper() + what[1:]} exists once on this machine and {who} is using it: "
                    f"let that notebook finish (or run helpers.cleanup() there), then run this cell again.")
            if progress and (told is None or time.monotonic() - told >= every):
                verb = "Waiting" if told is None else "Still waiting"
                progress(f"{verb} for {what}: {who} is using it "
                         f"({waited:.0f} s so far, giving up after {wait:.0f} s).")
                told = time.monotonic()
            time.sleep(0.25)
    except BaseException:
        os.close(fd)
        raise
    if told is not None and progress:
        progress(f"Got {what} after {time.monotonic() - started:.0f} s.")
    _sweep_dead_holders(resource)
    info = {"session": session.SESSION_ID, "notebook": session.NOTEBOOK, "pid": os.getpid(),
            "since": time.time(), "shared": shared, "what": what, "resource": resource}
    note = note_path(resource, session.SESSION_ID)
    note.write_text(json.dumps(info))
    lease = Lease(resource, what, shared, fd)
    _HELD[resource] = lease
    return lease


def _sweep_dead_holders(resource: str) -> None:
    """A holder that died left its lock free but maybe what it guarded (a macvlan network, a
    container on the port): remove that session's objects before this one takes over."""
    from helpers.core import cleanup

    for path in leases_dir().glob(f"{_safe(resource)}@*.json"):
        sid = path.stem.rsplit("@", 1)[1]
        if sid != session.SESSION_ID and not session.is_alive(sid):
            cleanup.cleanup(sid, quiet=True)
            session.forget(sid)


def held(resource: str) -> Lease | None:
    """This session's lease on ``resource``, if it holds one."""
    lease = _HELD.get(resource)
    return lease if lease is not None and lease.held else None


def release(resource: str) -> None:
    """Give back this session's lease on ``resource`` (nothing happens if it holds none)."""
    lease = _HELD.get(resource)
    if lease is not None:
        lease.release()


# --- clean-up: a dead session's notes (the kernel already lost its locks) ----------------

def _notes(sid: str | None) -> list[Path]:
    pattern = f"*@{sid}.json" if sid else "*@*.json"
    return sorted(leases_dir().glob(pattern))


def _owners() -> set[str]:
    return {p.stem.rsplit("@", 1)[1] for p in _notes(None)}


def _leftovers(sid: str) -> list[str]:
    if sid == session.SESSION_ID:
        return [f"lease on {r}" for r in _HELD if held(r)]
    return [f"lease on {p.stem.rsplit('@', 1)[0]}" for p in _notes(sid)]


def _remove(sid: str) -> list[str]:
    if sid == session.SESSION_ID:
        names = [r for r in list(_HELD) if held(r)]
        for r in names:
            release(r)
        return [f"lease on {r}" for r in names]
    removed = []
    if session.is_alive(sid):
        return removed  # never touch a live session's leases
    for p in _notes(sid):
        try:
            p.unlink()
        except PermissionError:
            continue  # another user's note: that user's sweep removes it
        except FileNotFoundError:
            pass
        removed.append(f"lease on {p.stem.rsplit('@', 1)[0]}")
    return removed


CLEANER = Cleaner("leases", _owners, _leftovers, _remove)
