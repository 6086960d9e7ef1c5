"""Who owns a resource: the workbook session.

Every kernel that imports :mod:`helpers` is one *session*.  Everything a
helper creates carries the session's id (a Docker label, a libvirt name
prefix, an environment variable in child processes), so that
:func:`helpers.cleanup` can remove exactly what this session made and
nothing else.

A session is alive while its kernel holds an exclusive ``flock`` on a small
lock file.  The kernel never has to say goodbye: when it is killed, the
operating system drops the lock, and the next session that starts sees the
lock free and sweeps what the dead one left (the idea of testcontainers'
Ryuk reaper, without a reaper process).
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import uuid
from pathlib import Path

#: Docker label keys.  ``WORKBOOK_LABEL`` marks anything the workbook made.
WORKBOOK_LABEL = "org.cloud-workbook"
SESSION_LABEL = "org.cloud-workbook.session"
NOTEBOOK_LABEL = "org.cloud-workbook.notebook"
HOST_LABEL = "org.cloud-workbook.host"
#: Base images built offline carry this instead of a session: they are a cache.
BASE_IMAGE_LABEL = "org.cloud-workbook.base-image"

#: Prefix of every libvirt object name (and other named resources).
NAME_PREFIX = "wb"

_SID_RE = re.compile(r"^[0-9a-f]{8}$")


def state_dir() -> Path:
    """Folder for locks and caches (``$WORKBOOK_STATE`` or ``~/.cache/cloud-workbook``)."""
    path = Path(os.environ.get("WORKBOOK_STATE") or Path.home() / ".cache" / "cloud-workbook")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _locks_dir() -> Path:
    path = state_dir() / "sessions"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _notebook_name() -> str:
    name = os.environ.get("WORKBOOK_NOTEBOOK") or os.environ.get("JPY_SESSION_NAME") or ""
    name = Path(name).stem if name else "interactive"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:60] or "interactive"


def _start() -> tuple[str, object | None]:
    sid = os.environ.get("WORKBOOK_SESSION", "")
    if not _SID_RE.match(sid):
        sid = uuid.uuid4().hex[:8]
    # Child processes (servers, subprocess tools) inherit the session.
    os.environ["WORKBOOK_SESSION"] = sid
    lock = open(_locks_dir() / f"{sid}.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.seek(0), lock.truncate(), lock.write(f"{os.getpid()}\n"), lock.flush()
    except BlockingIOError:
        # A parent process of ours owns the session and keeps it alive.
        lock.close()
        lock = None
    return sid, lock


SESSION_ID, _LOCK = _start()
NOTEBOOK = _notebook_name()
HOSTNAME = socket.gethostname()


def owns_session() -> bool:
    """True in the process that started the session (not in the children it spawned)."""
    return _LOCK is not None


def labels(**extra: str) -> dict[str, str]:
    """Docker labels for a new object of this session (plus ``extra``)."""
    return {WORKBOOK_LABEL: "1", SESSION_LABEL: SESSION_ID, NOTEBOOK_LABEL: NOTEBOOK,
            HOST_LABEL: HOSTNAME, **extra}


def resource_name(base: str, session: str | None = None) -> str:
    """Name for a libvirt object (or file, or project): ``wb-<session>-<base>``."""
    return f"{NAME_PREFIX}-{session or SESSION_ID}-{base}"


def session_of(name: str) -> str | None:
    """The session id inside a name made by :func:`resource_name`, else ``None``."""
    parts = name.split("-", 2)
    if len(parts) >= 2 and parts[0] == NAME_PREFIX and _SID_RE.match(parts[1]):
        return parts[1]
    return None


def is_alive(sid: str) -> bool:
    """True while the kernel that owns session ``sid`` is running (on this host)."""
    if sid == SESSION_ID:
        return True
    path = _locks_dir() / f"{sid}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the lock if we took it
    return False


def forget(sid: str) -> None:
    """Drop the lock file of a dead session once its resources are gone."""
    if sid != SESSION_ID:
        (_locks_dir() / f"{sid}.lock").unlink(missing_ok=True)


def known_sessions() -> set[str]:
    """Session ids that have a lock file (alive or not)."""
    return {p.stem for p in _locks_dir().glob("*.lock") if _SID_RE.match(p.stem)}


def owner_pid(sid: str) -> int | None:
    """The pid of the kernel that holds session ``sid`` (as written in its lock file)."""
    try:
        return int((_locks_dir() / f"{sid}.lock").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def session_processes(sid: str) -> list[int]:
    """Pids started for session ``sid`` (servers, tools), not counting its own kernel."""
    needle = f"WORKBOOK_SESSION={sid}".encode()
    me, owner = os.getpid(), owner_pid(sid)
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) in (me, owner):
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(entry.name))
    return found
