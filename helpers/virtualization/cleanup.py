"""Clean-up of the libvirt part: what a session created, found by name, and its removal.

Every workbook object is named ``wb-<session>-<base>`` (:func:`helpers.core.session.resource_name`),
so :data:`CLEANER` removes exactly one session's domains (with their saved images), networks,
pools with their volumes, and its files (console logs, saved images, subnet reservations, pool
folders), whoever made them: a cell, ``virsh`` in a ``%%bash`` cell, or a helper.  It is listed
in :data:`helpers.core.cleanup.CLEANER_MODULES`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import WorkbookError, run_with_timeout
from helpers.virtualization import networks
from helpers.virtualization.connection import CONNECTIONS, SYSTEM_URI, _open, alive
from helpers.virtualization.domains import remove_domain
from helpers.virtualization.networks import remove_network
from helpers.virtualization.storage import remove_pool


def _cleanup_connections() -> list:
    conns = []
    for conn in list(CONNECTIONS.values()):
        if alive(conn):
            conns.append(conn)
    if not any(c.getURI() == SYSTEM_URI for c in conns):
        try:
            conns.append(CONNECTIONS.setdefault(SYSTEM_URI, _open(SYSTEM_URI, 5)))
        except WorkbookError:
            pass
    return conns


def _objects(conn):
    """(kind, name, object) for every domain, network and pool named by the workbook on ``conn``."""
    found = []
    prefix = session.NAME_PREFIX + "-"
    for d in conn.listAllDomains(0):
        if d.name().startswith(prefix):
            found.append(("domain", d.name(), d))
    for n in conn.listAllNetworks(0):
        if n.name().startswith(prefix):
            found.append(("network", n.name(), n))
    for p in conn.listAllStoragePools(0):
        if p.name().startswith(prefix):
            found.append(("pool", p.name(), p))
    return found


def _session_files(sid: str | None = None) -> list[Path]:
    from helpers.virtualization import guest
    files = []
    for d in (guest.GUEST_DIR / "session", guest.GUEST_DIR / "pools"):
        if d.is_dir():
            for f in d.iterdir():
                s = session.session_of(f.name)
                if s and (sid is None or s == sid):
                    files.append(f)
    return files


def _owners() -> set[str]:
    owners = set()
    for conn in _cleanup_connections():
        for _, obj_name, _ in _objects(conn):
            if s := session.session_of(obj_name):
                owners.add(s)
    for f in _session_files():
        owners.add(session.session_of(f.name))
    return owners


def _leftovers(sid: str) -> list[str]:
    found = []
    for conn in _cleanup_connections():
        for kind, obj_name, _ in _objects(conn):
            if session.session_of(obj_name) == sid:
                found.append(f"libvirt {kind} {obj_name} ({conn.getURI()})")
    found += [f"file {f}" for f in _session_files(sid)]
    return found


def _remove(sid: str) -> list[str]:
    removed = []
    if sid == session.SESSION_ID:
        networks.TEST_RESERVATIONS.clear()
    for conn in _cleanup_connections():
        objs = [o for o in _objects(conn) if session.session_of(o[1]) == sid]
        for kind, obj_name, obj in sorted(objs, key=lambda o: ["domain", "network", "pool"].index(o[0])):
            if kind == "domain":
                remove_domain(obj)
            elif kind == "network":
                remove_network(obj)
            else:
                removed += remove_pool(obj)
            removed.append(f"libvirt {kind} {obj_name}")
    for f in _session_files(sid):
        try:
            shutil.rmtree(f) if f.is_dir() else f.unlink()
            removed.append(f"file {f.name}")
        except OSError:
            pass
    return removed


def _safe(fn, default):
    def wrapper(*args):
        try:
            return run_with_timeout(lambda: fn(*args), timeout=60, what="libvirt clean-up")
        except Exception:
            return default
    return wrapper


CLEANER = Cleaner("libvirt", _safe(_owners, set()), _safe(_leftovers, []), _safe(_remove, []))
