"""Watch a session for ports open on every interface while its notebook runs.

Reads Docker's port bindings of the session's containers and the listening
TCP sockets of the session's processes (its kernel and everything that
inherited ``WORKBOOK_SESSION``), and remembers every binding on ``0.0.0.0`` or
``::`` that no entry of :data:`ALLOWED` explains.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from helpers.containers import engine
from helpers.core import session

#: Wildcard bindings a lesson needs, each with its reason.  A key is matched
#: against a container's label keys (``label:KEY``) or name's end (``name:END``), or against a
#: process's command line (``cmd:TEXT``).
ALLOWED = {
    # §2.13: the routing mesh needs IPVS, missing on this kernel; a service published in host
    # mode binds every interface of the node (swarm has no host-IP option), removed at the end.
    "label:com.docker.swarm.service.id": "swarm publishes a service in host mode on every interface",
}

_WILDCARDS = {"0.0.0.0", "::", "", "[::]"}


def _container_wildcards(sid: str) -> list[str]:
    found = []
    for c in engine.client().api.containers(filters=engine.session_filter(sid)):
        labels, name = c.get("Labels") or {}, c["Names"][0].lstrip("/")
        if any((k.startswith("label:") and k[6:] in labels) or (k.startswith("name:") and name.endswith(k[5:]))
               for k in ALLOWED):
            continue
        for p in c.get("Ports") or []:
            if p.get("PublicPort") and p.get("IP", "") in _WILDCARDS:
                found.append(f"container {c['Names'][0].lstrip('/')} publishes {p['PrivatePort']}/{p['Type']} "
                             f"on {p.get('IP') or '*'}:{p['PublicPort']}")
    return found


def _listening_inodes() -> dict[str, str]:
    """inode -> 'addr:port' of every TCP socket listening on a wildcard address."""
    found = {}
    for table, wild in (("/proc/net/tcp", "00000000"), ("/proc/net/tcp6", "0" * 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            addr, port = local.split(":")
            if state == "0A" and addr == wild:  # LISTEN on every interface
                found[inode] = f"{'0.0.0.0' if len(addr) == 8 else '[::]'}:{int(port, 16)}"
    return found


def _process_wildcards(sid: str) -> list[str]:
    wild = _listening_inodes()
    if not wild:
        return []
    pids = set(session.session_processes(sid))
    owner = session.owner_pid(sid)
    if owner:
        pids.add(owner)
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in wild:
                if not any(k.startswith("cmd:") and k[4:] in cmd for k in ALLOWED):
                    found.append(f"process {pid} ({cmd[:80].strip()}) listens on {wild[target[8:-1]]}")
    return found


class Watcher:
    """Polls in a thread while a notebook runs; :attr:`seen` holds what was found."""

    def __init__(self, sid: str, interval: float = 0.5):
        self.sid, self.interval = sid, interval
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"listen-watch-{sid}")

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.seen.update(_container_wildcards(self.sid))
            except Exception:
                pass  # the daemon may be busy or absent: the next poll tries again
            try:
                self.seen.update(_process_wildcards(self.sid))
            except Exception:
                pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
