"""libvirt for the workbook: connections, lifecycle helpers, the guest console, subnets, checks, clean-up.

Notebook 08 calls libvirt itself for pools, volumes and networks
(``conn.storagePoolDefineXML``, ``pool.createXML``, ``conn.networkDefineXML``...); this module
keeps what a cell cannot show in a few lines: choosing a free subnet under a lease
(:func:`reserve_subnet`, :func:`free_subnet`, :func:`network_lease`), waiting for a guest,
tables, exercise checks and clean-up.  Every workbook object is named ``wb-<session>-<base>``
(:func:`helpers.core.session.resource_name`), so :data:`CLEANER` can remove exactly this
session's domains (with their saved images), networks, volumes and pools, whoever made them
(a cell, ``virsh`` in a ``%%bash`` cell, or a helper).

Connections::

    conn = virt.connect()          # argument > $WORKBOOK_LIBVIRT_URI > qemu:///system > test:///default

``qemu:///system`` runs real guests (the tiny guest of :mod:`helpers.virtualization.guest`);
``test:///default`` is libvirt's embedded test driver: it needs no daemon and
simulates a host in *this process* (its state vanishes with the process and a
``virsh`` started beside it sees a fresh simulated host of its own).

Every libvirt error a student can cause comes back as one sentence
(:class:`helpers.core.errors.WorkbookError`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import libvirt

from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import (AlreadyInUse, DaemonUnavailable, NotFound, WaitTimeout, WorkbookError,
                     run_with_timeout, wait_for)
from helpers.core.verdict import Verdict

# libvirt prints every error on stderr by default; ours arrive as exceptions.
libvirt.registerErrorHandler(lambda *_: None, None)

SYSTEM_URI = "qemu:///system"
TEST_URI = "test:///default"
URI_ENV = "WORKBOOK_LIBVIRT_URI"

_LOCK = threading.RLock()
_CONNECTIONS: dict[str, libvirt.virConnect] = {}
_CHOICE: dict = {}


# --------------------------------------------------------------------------- errors

_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN: "domain",
    libvirt.VIR_ERR_NO_NETWORK: "network",
    libvirt.VIR_ERR_NO_STORAGE_POOL: "storage pool",
    libvirt.VIR_ERR_NO_STORAGE_VOL: "storage volume",
}
_XML_ERRORS = {libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_ERR_XML_DETAIL,
               getattr(libvirt, "VIR_ERR_XML_INVALID_SCHEMA", -1), libvirt.VIR_ERR_CONFIG_UNSUPPORTED}


class XMLError(WorkbookError):
    """An XML definition libvirt rejected."""


# --------------------------------------------------------------------------- other sessions' objects
#
# On a shared host (qemu:///system) several kernels run at once: two students, or the
# same notebook in two tabs.  A listing (listAllDomains, listAllNetworks...) returns
# every object on the host, and between the listing and the next call on one of them
# (info(), state(), XMLDesc(), isActive()...) its owner may undefine it: libvirt then
# answers "Domain not found: no domain with matching uuid ...".  The helpers below list
# this session's objects only (by name), and skip an object that vanished meanwhile.

def vanished(exc: libvirt.libvirtError, *codes: int) -> bool:
    """True when ``exc`` says the object no longer exists (``codes``: which ``VIR_ERR_NO_*`` count; default all four)."""
    return exc.get_error_code() in (codes or tuple(_NOT_FOUND))


def mine(obj_or_name) -> bool:
    """True for an object (or name) of this session: ``wb-<session>-...``."""
    obj_name = obj_or_name if isinstance(obj_or_name, str) else obj_or_name.name()   # name(): no daemon call
    return obj_name.startswith(session.resource_name(""))


def each_present(objects, describe, code: int) -> list:
    """``describe(obj)`` for every listed object, skipping those removed since the listing.

    ``code`` is the libvirt error that means "gone" for this kind of object
    (``libvirt.VIR_ERR_NO_DOMAIN``, ``..._NO_NETWORK``, ``..._NO_STORAGE_POOL``,
    ``..._NO_STORAGE_VOL``); any other error is raised.
    """
    rows = []
    for obj in objects:
        try:
            rows.append(describe(obj))
        except libvirt.libvirtError as exc:
            if not vanished(exc, code):
                raise
    return rows


#: Sample XML definitions (``data/libvirt/*.xml``), named ``example-*``.
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "libvirt"


def sample_xml(sample: str, base: str | None = None) -> str:
    """The sample ``data/libvirt/<sample>.xml``; with ``base``, renamed to this session's ``name(base)``."""
    path = DATA_DIR / f"{sample}.xml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in DATA_DIR.glob("*.xml")))
        raise NotFound(f"There is no sample {sample!r}: choose one of {known}.")
    text = path.read_text()
    if base:
        text = re.sub(r"<name>example-[^<]*</name>", f"<name>{name(base)}</name>", text, count=1)
    return text


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].rstrip(".") if text else "no details"


def explain(exc: libvirt.libvirtError, what: str, uri: str | None = None) -> WorkbookError:
    """Turn a libvirt error met while doing ``what`` into one clear sentence."""
    code = exc.get_error_code()
    msg = _first_line(exc.get_error_message())
    where = f" on {uri}" if uri else ""
    if code in _NOT_FOUND:
        kind = _NOT_FOUND[code]
        return NotFound(f"No {kind} matches {what}{where}: list what exists with "
                        f"`virsh {'list --all' if kind == 'domain' else {'network': 'net-list --all', 'storage pool': 'pool-list --all', 'storage volume': 'vol-list <pool>'}[kind]}` "
                        f"and check the name.")
    if code in _XML_ERRORS:
        return XMLError(f"libvirt rejected the XML for {what} ({msg}): fix the XML and run the cell again.")
    if code == libvirt.VIR_ERR_OPERATION_INVALID:
        return WorkbookError(f"Cannot {what} in its current state ({msg}): check its state first "
                             f"(the lifecycle diagram shows which transitions are allowed).")
    if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR) and "connect" in msg.lower():
        return DaemonUnavailable(f"The libvirt daemon does not answer{where} ({msg}): start it "
                                 f"(`sudo systemctl start libvirtd`) or use test:///default.")
    if "already exists" in msg or code == libvirt.VIR_ERR_DOM_EXIST:
        return AlreadyInUse(f"Cannot {what}: {msg}; choose another name or remove the old object first.")
    return WorkbookError(f"libvirt could not {what}{where}: {msg}.")


# --------------------------------------------------------------------------- connections

def _open(uri: str, timeout: float, readonly: bool = False) -> libvirt.virConnect:
    opener = libvirt.openReadOnly if readonly else libvirt.open
    try:
        return run_with_timeout(lambda: opener(uri), timeout=timeout, what=f"libvirt at {uri}")
    except WaitTimeout:
        raise DaemonUnavailable(f"libvirt at {uri} did not answer within {timeout:g} s: check that the "
                                f"daemon runs (`systemctl status libvirtd`) or use test:///default.") from None
    except libvirt.libvirtError as exc:
        code, msg = exc.get_error_code(), _first_line(exc.get_error_message())
        if code == libvirt.VIR_ERR_NO_CONNECT and "no connection driver" in msg:
            raise DaemonUnavailable(f"No libvirt driver understands the URI {uri!r} ({msg}): check its "
                                    f"spelling, e.g. qemu:///system or test:///default.") from None
        if code == libvirt.VIR_ERR_AUTH_FAILED or "authentication" in msg.lower() or "permission" in msg.lower():
            raise DaemonUnavailable(f"You may not use {uri} ({msg}): run as root, join the libvirt "
                                    f"group, or use qemu:///session or test:///default.") from None
        raise DaemonUnavailable(f"Cannot connect to libvirt at {uri} ({msg}): start the daemon "
                                f"(`sudo systemctl start libvirtd`) or use test:///default.") from None


def open_connection(uri: str, *, readonly: bool = False, timeout: float = 10.0) -> libvirt.virConnect:
    """A new connection to ``uri`` (``libvirt.open``/``openReadOnly``) with one-sentence errors.

    The caller closes it with ``.close()``; :func:`connect` keeps shared ones instead.
    """
    return _open(uri, timeout, readonly)


def _alive(conn) -> bool:
    try:
        return conn.isAlive() == 1
    except libvirt.libvirtError:
        return False


def choose_uri(uri: str | None = None, timeout: float = 5.0) -> tuple[str, str]:
    """Which URI :func:`connect` uses, and why (``argument``, ``environment ...``, ``chosen automatically: ...``, ``fallback: ...``)."""
    if uri:
        return uri, "argument"
    if os.environ.get(URI_ENV):
        return os.environ[URI_ENV], f"environment ({URI_ENV})"
    try:
        _open(SYSTEM_URI, timeout).close()
        return SYSTEM_URI, "chosen automatically: libvirtd answers"
    except WorkbookError as exc:
        return TEST_URI, f"fallback: {exc}"


def connect(uri: str | None = None, *, timeout: float = 10.0) -> libvirt.virConnect:
    """A shared connection: ``uri``, else ``$WORKBOOK_LIBVIRT_URI``, else ``qemu:///system``
    when it answers, else ``test:///default`` (the notebook shows why)."""
    with _LOCK:
        chosen, why = choose_uri(uri)
        conn = _CONNECTIONS.get(chosen)
        if conn is None or not _alive(conn):
            conn = _open(chosen, timeout)
            _CONNECTIONS[chosen] = conn
        _CHOICE.update(uri=chosen, why=why)
        return conn


def is_real(conn) -> bool:
    """True for a driver that runs real guests (QEMU), False for the test driver."""
    try:
        return conn.getType().upper() != "TEST"
    except libvirt.libvirtError:
        return False


def show_connection(conn) -> None:
    """One line (a banner when we fell back) saying which hypervisor this notebook talks to."""
    from IPython.display import HTML, display

    why = _CHOICE.get("why", "")
    uri = conn.getURI()
    if why.startswith("fallback"):
        display(HTML("<div class='workbook-banner' style='border-left:6px solid #d4a72c;background:#fff8c5;"
                     f"padding:8px 12px'><b>On this machine:</b> qemu:///system did not answer, so this "
                     f"notebook uses libvirt's simulated host <code>{uri}</code>. {why[10:]} Cells that need "
                     f"a real guest console say so and skip.</div>"))
    elif not is_real(conn):
        display(HTML("<div class='workbook-banner' style='border-left:6px solid #0969da;background:#ddf4ff;"
                     f"padding:8px 12px'>Connected to <code>{uri}</code> ({why}): libvirt's <b>simulated</b> "
                     "host. Every API call is real, but no guest actually boots, so the cells that read a "
                     "guest console say so and skip.</div>"))
    else:
        display(HTML("<div class='workbook-banner' style='border-left:6px solid #1a7f37;background:#dafbe1;"
                     f"padding:8px 12px'>Connected to <code>{uri}</code> ({why}), driver {conn.getType()}: "
                     "guests are real QEMU processes.</div>"))


def name(base: str) -> str:
    """This session's name for a libvirt object: ``wb-<session>-<base>``."""
    return session.resource_name(base)


def version_text(number: int) -> str:
    """libvirt encodes versions as major*1e6 + minor*1e3 + release."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


# --------------------------------------------------------------------------- virsh beside Python

@dataclass
class VirshResult:
    argv: list[str]
    returncode: int | None
    output: str
    skipped: str = ""
    #: 1 when a listing met another session's object vanishing mid-listing and was run again.
    retries: int = 0

    def __str__(self):
        # A ';'-separated script (one virsh process, several commands) is shown one command a line,
        # quoted as a shell user would type it.
        words = [f"'{w}'" if " " in w else w for w in self.argv]
        head = "$ " + " ".join(words).replace("; ", ";\n      ")
        if self.skipped:
            return f"{head}\n(not run: {self.skipped})"
        return f"{head}\n{self.output.rstrip()}"

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def virsh(conn_or_uri, *args: str, shared_state: bool = False, timeout: float = 60) -> VirshResult:
    """Run ``virsh -c <uri> <args>`` for real (argument list, no shell) and return its output.

    ``shared_state=True`` marks a command about objects this notebook created:
    under ``test:///default`` each process has its own simulated host, so such
    a command is not run (the result says why) instead of showing a misleading error.
    """
    uri = conn_or_uri if isinstance(conn_or_uri, str) else conn_or_uri.getURI()
    argv = ["virsh", "-c", uri, *[str(a) for a in args]]
    if not shutil.which("virsh"):
        return VirshResult(argv, None, "", "virsh is not installed (apt-get install libvirt-clients)")
    if shared_state and uri.startswith("test:"):
        return VirshResult(argv, None, "", "virsh would open its own, separate test:///default host, "
                           "which does not have the objects this notebook created")
    retries = 0
    while True:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return VirshResult(argv, None, f"(virsh did not finish within {timeout:g} s)", retries=retries)
        # A listing (list, net-list, pool-list...) first lists every object on the host, then
        # asks about each one in turn.  On a shared host another session may undefine its own
        # object in between; virsh then says "... not found: no ... with matching uuid ..."
        # (pool-list: "Could not retrieve pool information", beside an 'unknown' row).  That is
        # a race, not an error of this notebook: run the listing once more.  Only a single
        # listing command is repeated (a ';' script may change things), and only once: a
        # second failure is shown as it is.
        if retries or not _listing_race(args, out.stderr):
            break
        retries += 1
    text = out.stdout + (out.stderr if out.returncode else "")
    return VirshResult(argv, out.returncode, text, retries=retries)


#: virsh commands that list objects and then query each of them.
_LISTINGS = {"list", "net-list", "pool-list", "vol-list", "iface-list", "nodedev-list", "secret-list",
             "nwfilter-list", "net-port-list", "snapshot-list", "checkpoint-list"}
#: What virsh says when an object it has just listed is gone (looked up again by its UUID).
_RACE_TEXT = re.compile(r"(Domain|Network|Storage pool|Storage volume) not found: no [\w ]+ with matching uuid"
                        r"|Could not retrieve pool information")


def _listing_race(args, stderr: str) -> bool:
    """True when one virsh listing command reported an object that vanished while it listed."""
    words = " ".join(str(a) for a in args).split()
    return (bool(words) and words[0] in _LISTINGS and ";" not in " ".join(words)
            and bool(_RACE_TEXT.search(stderr or "")))


# --------------------------------------------------------------------------- node

def capabilities_summary(conn) -> dict:
    """The parts of ``getCapabilities()`` worth reading: host CPU and the guest types offered."""
    root = ET.fromstring(conn.getCapabilities())
    host_cpu = root.find("host/cpu")
    guests = []
    for g in root.findall("guest"):
        arch = g.find("arch")
        guests.append({"os_type": g.findtext("os_type"), "arch": arch.get("name") if arch is not None else "?",
                       "domain types": sorted({d.get("type") for d in g.findall("arch/domain")})})
    return {"host arch": host_cpu.findtext("arch") if host_cpu is not None else "?",
            "host CPU model": host_cpu.findtext("model") if host_cpu is not None else "?",
            "host CPU features": len(host_cpu.findall("feature")) if host_cpu is not None else 0,
            "guests": guests}


# --------------------------------------------------------------------------- domains

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state", libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked", libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down", libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed", libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended by guest",
}

#: ``listAllDomains`` filters, by the name virsh list uses.
LIST_FLAGS = {
    "--all": 0,
    "--active": libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE,
    "--inactive": libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE,
    "--persistent": libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
    "--transient": libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
    "--state-running": libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING,
    "--state-paused": libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED,
    "--state-shutoff": libvirt.VIR_CONNECT_LIST_DOMAINS_SHUTOFF,
    "--managed-save": libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE,
}


def domain_type(conn=None) -> str:
    """``'kvm'`` when a KVM guest really boots here (a cached boot probe), else ``'qemu'`` (TCG)."""
    try:
        from helpers import envcheck
        return "kvm" if envcheck.kvm_usable() else "qemu"
    except Exception:
        return "qemu"


def console_log_path(dom_name: str) -> Path:
    from helpers.virtualization import guest
    return guest.session_dir() / f"{dom_name}.console.log"


def save_path(dom_name: str) -> Path:
    from helpers.virtualization import guest
    return guest.session_dir() / f"{dom_name}.save"


def domain_xml(conn, base: str = "guest", *, network: str | None = None, disk: str | None = None,
               memory_mib: int = 128, vcpus: int = 1) -> str:
    """XML for a session domain that suits ``conn``: the tiny guest on QEMU, a stub on the test driver."""
    dom_name = name(base) if not base.startswith(session.NAME_PREFIX + "-") else base
    if not is_real(conn):
        nic = (f"<interface type='network'><source network='{network}'/></interface>" if network else "")
        return (f"<domain type='test'>\n  <name>{dom_name}</name>\n  <memory unit='MiB'>{memory_mib}</memory>\n"
                f"  <vcpu>{vcpus}</vcpu>\n  <os><type arch='x86_64'>hvm</type></os>\n"
                f"  <devices>{nic}</devices>\n</domain>\n")
    from helpers.virtualization import guest
    return guest.domain_xml(dom_name, guest.ensure(), console_log=console_log_path(dom_name),
                            memory_mib=memory_mib, vcpus=vcpus, domain_type=domain_type(conn),
                            network=network, disk=disk)


def _xml_name(xml: str) -> str | None:
    try:
        return ET.fromstring(xml).findtext("name")
    except ET.ParseError as exc:
        raise XMLError(f"The XML is not well-formed ({exc}): check that every tag is closed and "
                       f"quoted, then run the cell again.") from None


def lookup(conn, key) -> libvirt.virDomain:
    """A domain by ID (int), UUID (string with dashes) or name, like ``virsh dominfo``."""
    try:
        if isinstance(key, int):
            return conn.lookupByID(key)
        if isinstance(key, str) and re.fullmatch(r"[0-9a-fA-F-]{36}", key):
            return conn.lookupByUUIDString(key)
        return conn.lookupByName(str(key))
    except libvirt.libvirtError as exc:
        raise explain(exc, f"the domain {key!r}", conn.getURI()) from None


def _existing(conn, dom_name):
    try:
        return conn.lookupByName(dom_name)
    except libvirt.libvirtError:
        return None


def define(conn, xml: str) -> libvirt.virDomain:
    """``defineXML``: a persistent domain, not started (re-running updates its definition)."""
    dom_name = _xml_name(xml)
    old = _existing(conn, dom_name)
    if old is not None and old.isActive() and not old.isPersistent():
        _destroy_quietly(old)
    try:
        return conn.defineXML(xml)
    except libvirt.libvirtError as exc:
        raise explain(exc, f"define the domain {dom_name}", conn.getURI()) from None


def create_transient(conn, xml: str) -> libvirt.virDomain:
    """``createXML``: a transient domain, started now and gone when it stops (re-running starts afresh)."""
    dom_name = _xml_name(xml)
    old = _existing(conn, dom_name)
    if old is not None:
        remove_domain(old)
    _reset_console(conn, dom_name)
    try:
        return conn.createXML(xml, 0)
    except libvirt.libvirtError as exc:
        raise explain(exc, f"create the domain {dom_name}", conn.getURI()) from None


def _reset_console(conn, dom_name):
    if is_real(conn):
        try:
            console_log_path(dom_name).unlink(missing_ok=True)
        except OSError:
            pass


def state_name(dom) -> str:
    try:
        return STATE_NAMES.get(dom.state()[0], "unknown")
    except libvirt.libvirtError:
        return "undefined"


def lifecycle_state(conn, dom_name: str) -> str:
    """The chapter's lifecycle state: undefined, defined, running, paused or saved."""
    dom = _existing(conn, dom_name)
    saved = save_path(dom_name).exists()
    if dom is None:
        return "saved" if saved else "undefined"
    try:
        st = dom.state()[0]
        managed = dom.isPersistent() and dom.hasManagedSaveImage(0)
    except libvirt.libvirtError:
        return "saved" if saved else "undefined"
    if st == libvirt.VIR_DOMAIN_PAUSED:
        return "paused"
    if st in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_SHUTDOWN):
        return "running"
    return "saved" if (saved or managed) else "defined"


def domain_info(dom) -> dict:
    """``ID()``, ``UUIDString()``, ``OSType()``, ``info()`` and ``state()`` of a domain, named."""
    st, mx, mem, cpus, cpu_time = dom.info()
    return {"name": dom.name(), "ID": dom.ID(), "UUID": dom.UUIDString(), "OS type": dom.OSType(),
            "state": STATE_NAMES.get(st, st), "max memory (KiB)": mx, "memory (KiB)": mem,
            "vCPUs": cpus, "CPU time (s)": round(cpu_time / 1e9, 2),
            "persistent": bool(dom.isPersistent()), "active": bool(dom.isActive())}


def list_domains(conn, flag: str = "--all", *, session_only: bool = True) -> list[dict]:
    """``listAllDomains(flags)`` as rows (flag names as in ``virsh list``).

    Only this session's domains unless ``session_only=False``; a domain that
    another session removes while we read it is left out.
    """
    if flag not in LIST_FLAGS:
        raise WorkbookError(f"Unknown list filter {flag!r}: choose one of {', '.join(LIST_FLAGS)}.")

    def row(d):
        active = d.isActive()
        return {"ID": d.ID() if active else "-", "name": d.name(),
                "state": STATE_NAMES.get(d.state()[0], "unknown"), "persistent": bool(d.isPersistent())}

    doms = [d for d in conn.listAllDomains(LIST_FLAGS[flag]) if mine(d) or not session_only]
    return each_present(doms, row, libvirt.VIR_ERR_NO_DOMAIN)


#: The chapter's lifecycle: (operation, from-state, to-state, virsh command, Python call).
TRANSITIONS = [
    ("define", "undefined", "defined", "virsh define <file>", "conn.defineXML(xml)"),
    ("create", "undefined", "running", "virsh create <file>", "conn.createXML(xml, 0)"),
    ("start", "defined", "running", "virsh start <dom>", "dom.create()"),
    ("shutdown", "running", "defined", "virsh shutdown <dom>", "dom.shutdown()"),
    ("destroy", "running", "defined", "virsh destroy <dom>", "dom.destroy()"),
    ("destroy", "paused", "defined", "virsh destroy <dom>", "dom.destroy()"),
    ("suspend", "running", "paused", "virsh suspend <dom>", "dom.suspend()"),
    ("resume", "paused", "running", "virsh resume <dom>", "dom.resume()"),
    ("save", "running", "saved", "virsh save <dom> <file>", "dom.save(file)"),
    ("save", "paused", "saved", "virsh save <dom> <file>", "dom.save(file)"),
    ("restore", "saved", "running", "virsh restore <file>", "conn.restore(file)"),
    ("undefine", "defined", "undefined", "virsh undefine <dom>", "dom.undefine()"),
]


def allowed(state: str) -> list[str]:
    """Operations the lifecycle allows from ``state``."""
    return sorted({op for op, src, *_ in TRANSITIONS if src == state})


class Step(NamedTuple):
    """One lifecycle operation this session did through these helpers."""

    domain: str
    op: str
    before: str
    after: str
    #: The saved image written (save) or read (restore); None for the other operations.
    path: str | None = None


#: What this session did to its domains, in order (an exercise check reads the steps after its start).
HISTORY: list[Step] = []


def _record(conn, dom_name, op, before, path=None):
    HISTORY.append(Step(dom_name, op, before, lifecycle_state(conn, dom_name), str(path) if path else None))


def _op(conn, dom, op: str, call, path=None):
    dom_name = dom.name()
    before = lifecycle_state(conn, dom_name)
    try:
        result = call()
    except libvirt.libvirtError as exc:
        code = exc.get_error_code()
        if code == libvirt.VIR_ERR_OPERATION_INVALID or "not running" in str(exc) or "not paused" in str(exc):
            raise WorkbookError(
                f"Cannot {op} {dom_name} while it is {before}: from {before} the lifecycle allows "
                f"{', '.join(allowed(before)) or 'nothing'}.") from None
        raise explain(exc, f"{op} the domain {dom_name}", conn.getURI()) from None
    _record(conn, dom_name, op, before, path)
    return result


def start(dom) -> None:
    """``dom.create()`` = ``virsh start``: boot a defined domain."""
    conn = dom.connect()
    if is_real(conn) and dom.isPersistent():
        _reset_console(conn, dom.name())
    _op(conn, dom, "start", dom.create)


def shutdown(dom, *, wait: bool = True, timeout: float = 60) -> None:
    """``dom.shutdown()`` = ``virsh shutdown``: ask the guest OS to power off (ACPI), then wait."""
    conn = dom.connect()
    dom_name = dom.name()
    before = lifecycle_state(conn, dom_name)
    try:
        dom.shutdown()
    except libvirt.libvirtError as exc:
        raise WorkbookError(f"Cannot shutdown {dom_name} while it is {before}: from {before} the lifecycle "
                            f"allows {', '.join(allowed(before)) or 'nothing'}.") from None
    if wait:
        wait_for(lambda: lifecycle_state(conn, dom_name) in ("defined", "undefined"), timeout=timeout,
                 what=f"{dom_name} to power off after the ACPI shutdown request", interval=0.2)
    _record(conn, dom_name, "shutdown", before)


def destroy(dom) -> None:
    """``dom.destroy()`` = ``virsh destroy``: pull the plug (the guest OS gets no say)."""
    _op(dom.connect(), dom, "destroy", dom.destroy)


def suspend(dom) -> None:
    """``dom.suspend()`` = ``virsh suspend``: freeze the vCPUs; memory stays in the host's RAM."""
    _op(dom.connect(), dom, "suspend", dom.suspend)


def resume(dom) -> None:
    """``dom.resume()`` = ``virsh resume``: let a paused domain run again."""
    _op(dom.connect(), dom, "resume", dom.resume)


def save(dom, path: str | Path | None = None) -> Path:
    """``dom.save(file)`` = ``virsh save``: write the guest's memory to a file and stop it."""
    path = Path(path) if path else save_path(dom.name())
    path.unlink(missing_ok=True)
    _op(dom.connect(), dom, "save", lambda: dom.save(str(path)), path)
    return path


def restore(conn, path: str | Path) -> libvirt.virDomain:
    """``conn.restore(file)`` = ``virsh restore``: run a saved domain again from its file.

    (A *connection* method: the domain may not even exist as an object until restored.)
    """
    path = Path(path)
    if not path.exists():
        raise NotFound(f"There is no saved image at {path}: save a running domain first (save(dom)).")
    try:
        from_xml = conn.saveImageGetXMLDesc(str(path), 0)
        dom_name = _xml_name(from_xml)
    except libvirt.libvirtError:
        dom_name = None
    before = "saved"
    try:
        conn.restore(str(path))
    except libvirt.libvirtError as exc:
        raise explain(exc, f"restore the saved image {path.name}", conn.getURI()) from None
    if dom_name and dom_name.startswith(session.NAME_PREFIX) and path == save_path(dom_name):
        path.unlink(missing_ok=True)  # the image has served its purpose
    dom = conn.lookupByName(dom_name) if dom_name else None
    if dom is not None:
        _record(conn, dom_name, "restore", before, path)
    return dom


def undefine(dom) -> None:
    """``dom.undefine()`` = ``virsh undefine``: forget the persistent definition."""
    _op(dom.connect(), dom, "undefine", dom.undefine)


def _destroy_quietly(dom):
    try:
        if dom.isActive():
            dom.destroy()
    except libvirt.libvirtError:
        pass


def remove_domain(dom) -> None:
    """Stop and forget a domain, with its managed-save image and session files."""
    dom_name = dom.name()
    _destroy_quietly(dom)
    try:
        if dom.isPersistent():
            flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                     | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError:
                dom.undefine()
    except libvirt.libvirtError:
        pass
    save_path(dom_name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- the guest console

def console_text(dom_or_name) -> str | None:
    """What the guest printed on its serial console so far (``None`` on the test driver)."""
    dom_name = dom_or_name if isinstance(dom_or_name, str) else dom_or_name.name()
    if not isinstance(dom_or_name, str) and not is_real(dom_or_name.connect()):
        return None
    path = console_log_path(dom_name)
    try:
        raw = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r", "")


def wait_console(dom, text: str, timeout: float = 60) -> float:
    """Wait until the console shows ``text``; returns the seconds waited."""
    t0 = time.monotonic()
    wait_for(lambda: text in (console_text(dom) or ""), timeout=timeout,
             what=f"{dom.name()} to print {text!r} on its console", interval=0.1)
    return time.monotonic() - t0


def boot_and_wait(dom, timeout: float = 90) -> float:
    """Start ``dom`` if needed and return the seconds until the guest's boot scripts finished."""
    from helpers.virtualization import guest
    t0 = time.monotonic()
    if not dom.isActive():
        start(dom)
    wait_console(dom, guest.READY_MARKER, timeout)
    wait_console(dom, guest.PROMPT, timeout)
    return time.monotonic() - t0


_COUNTER = [0]


def run_in_guest(dom, command: str, timeout: float = 30) -> str:
    """Type ``command`` on the guest's serial console and return what it printed.

    Uses ``dom.openConsole`` with a libvirt stream (what ``virsh console`` does);
    the output is read back from the console log.
    """
    conn = dom.connect()
    if not is_real(conn):
        raise WorkbookError("The test:///default driver simulates domains without a guest OS, so there is "
                            "no console to type into: use qemu:///system.")
    _COUNTER[0] += 1
    n = _COUNTER[0]
    begin, end = f"WBBEGIN{n}", f"WBEND{n}"
    # Typed as WB""BEGIN so that the echo of the typed line does not contain the marker.
    line = f'echo WB""BEGIN{n}; {command}; echo WB""END{n}\n'
    stream = conn.newStream(0)
    try:
        dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        stream.send(line.encode())
        text = wait_for(lambda: (t := console_text(dom) or "") and re.search(
            rf"^{begin}\n(.*?)^{end}$", t, re.S | re.M), timeout=timeout,
            what=f"the guest to run {command!r}", interval=0.1)
    except libvirt.libvirtError as exc:
        raise explain(exc, f"open the console of {dom.name()}", conn.getURI()) from None
    finally:
        try:
            stream.finish()
        except libvirt.libvirtError:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
    return text.group(1).rstrip("\n")


# --------------------------------------------------------------------------- the guest's QEMU process

def qemu_process(dom) -> dict | None:
    """The QEMU process libvirt runs for ``dom``: pid, user, resident MiB, elapsed time and argv.

    ``None`` when there is none (the test driver, or a domain that is not running).
    The command line is read whole from ``/proc/<pid>/cmdline`` (ps would cut it).
    """
    if not is_real(dom.connect()) or not dom.isActive():
        return None
    out = subprocess.run(["ps", "-C", "qemu-system-x86_64", "-o", "pid=,user:32=,rss=,etime="],
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        pid, user, rss, etime = line.split()
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue   # it ended meanwhile
        if any(a.startswith(f"guest={dom.name()},") or a == f"guest={dom.name()}" for a in argv):
            return {"pid": int(pid), "user": user, "rss MiB": int(rss) / 1024, "elapsed": etime, "argv": argv}
    return None


#: The QEMU options that say what machine a guest is, in the order they are shown.
QEMU_OPTIONS = ("-name", "-machine", "-accel", "-cpu", "-m", "-smp", "-kernel", "-initrd", "-append")


def qemu_command_summary(argv: list[str], width: int = 100) -> list[str]:
    """Readable lines for a QEMU command line: the binary, the options of :data:`QEMU_OPTIONS`,
    and the ``-device`` options counted with their drivers (their JSON values are long)."""
    import textwrap

    lines = [f"{argv[0]}   ({len(argv)} arguments in all)"]
    values: dict[str, list[str]] = {}
    for opt, val in zip(argv, argv[1:]):
        values.setdefault(opt, []).append(val)
    for opt in QEMU_OPTIONS:
        for val in values.get(opt, []):
            lines += textwrap.wrap(f"{opt} {val}", width, initial_indent="  ", subsequent_indent="      ")
    drivers = []
    for val in values.get("-device", []):
        try:
            drivers.append(json.loads(val).get("driver", "?"))
        except ValueError:
            drivers.append(val.split(",")[0])
    if drivers:
        lines += textwrap.wrap(f"-device ×{len(drivers)}: {', '.join(drivers)}", width, initial_indent="  ",
                               subsequent_indent="      ")
    return lines


# --------------------------------------------------------------------------- networks

def _subnet_users(conn, *, own_reservations: bool = True) -> list[tuple]:
    """(subnet, who uses it) for every host interface, route, libvirt network and reserved subnet.

    ``own_reservations=False`` leaves out the subnets this session reserved itself
    (:func:`reserve_subnet`), e.g. when judging the XML that uses one.
    """
    users = []

    def net_subnets(n):
        found = []
        for ip in ET.fromstring(n.XMLDesc()).findall("ip"):
            mask = ip.get("netmask") or ip.get("prefix")
            if ip.get("address") and mask:
                try:
                    found.append((ipaddress.ip_network(f"{ip.get('address')}/{mask}", strict=False),
                                  f"the libvirt network {n.name()}"))
                except ValueError:
                    pass
        return found

    # Every network counts here, other sessions' too (their subnets are taken); one that
    # its session removes while we read it is skipped.
    for conn_ in {id(c): c for c in [conn, *_CONNECTIONS.values()]}.values():
        try:
            for found in each_present(conn_.listAllNetworks(), net_subnets, libvirt.VIR_ERR_NO_NETWORK):
                users += found
        except libvirt.libvirtError:
            pass  # a connection that broke: the daemon still refuses an overlapping subnet (retried below)
    try:
        out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, timeout=5).stdout
        for link in json.loads(out or "[]"):
            for a in link.get("addr_info", []):
                if a.get("family") == "inet":
                    users.append((ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False),
                                  f"the host interface {link.get('ifname', '?')}"))
        out = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, timeout=5).stdout
        for r in json.loads(out or "[]"):
            dst = r.get("dst")
            if dst and dst != "default":
                users.append((ipaddress.ip_network(dst, strict=False), f"a route of the host via {r.get('dev', '?')}"))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        pass
    for owner, subnet in _reservations().items():
        if own_reservations or owner[0] != session.SESSION_ID:
            users.append((ipaddress.ip_network(subnet), f"a reservation of session {owner[0]} ({owner[1]})"))
    return users


def _used_subnets(conn) -> list:
    return [subnet for subnet, _ in _subnet_users(conn)]


def free_subnet(conn, salt: str = "") -> str:
    """A /24 in 10.213.0.0/16 that no host interface, route, libvirt network or reservation uses.

    Another session may take it a moment later; to keep it, use :func:`reserve_subnet`.
    """
    used = _used_subnets(conn)
    start = int(uuidlib.uuid5(uuidlib.NAMESPACE_DNS, session.SESSION_ID + salt).int % 250)
    for k in range(250):
        cand = ipaddress.ip_network(f"10.213.{(start + k) % 250 + 1}.0/24")
        if not any(cand.overlaps(u) for u in used):
            return str(cand)
    raise AlreadyInUse("Every 10.213.x.0/24 subnet is taken: remove some libvirt networks and try again.")


# A subnet chosen in one cell and used in a later one (the exercise's network XML) would be free
# for another session in between: a reservation keeps it.  On a real host it is a file named after
# the session in guest.session_dir() (shared by every kernel; helpers.cleanup() and the sweep of
# a dead session's files remove it); on the test driver, whose host is this process's alone, a dict.
_TEST_RESERVATIONS: dict[str, str] = {}


def _reservation_path(base: str) -> Path:
    from helpers.virtualization import guest
    return guest.session_dir() / f"{name(base)}.subnet"


def _reservations() -> dict[tuple[str, str], str]:
    """(session, file name) -> subnet for every reservation on this host, plus this process's test ones."""
    found = {(session.SESSION_ID, f"test:{b}"): sub for b, sub in _TEST_RESERVATIONS.items()}
    from helpers.virtualization import guest
    folder = guest.GUEST_DIR / "session"
    if folder.is_dir():
        for f in folder.glob("*.subnet"):
            sid = session.session_of(f.name)
            try:
                found[(sid or "?", f.name)] = str(ipaddress.ip_network(f.read_text().strip()))
            except (OSError, ValueError):
                pass
    return found


def reserve_subnet(conn, base: str = "isolated") -> str:
    """A free /24 (``'10.213.x.0/24'``) kept for this session until :func:`helpers.cleanup`.

    Chosen under :data:`NETWORK_LEASE`, so another session choosing at the same moment
    sees it taken; running the cell again gives the same subnet while nobody else uses it.
    """
    with network_lease(conn):
        if not is_real(conn):
            mine_now = _TEST_RESERVATIONS.get(base)
        else:
            try:
                mine_now = _reservation_path(base).read_text().strip()
            except OSError:
                mine_now = None
        if mine_now:
            cand = ipaddress.ip_network(mine_now)
            clash = [who for sub, who in _subnet_users(conn, own_reservations=False) if cand.overlaps(sub)]
            if not clash:
                return mine_now
        _TEST_RESERVATIONS.pop(base, None)
        if is_real(conn):
            _reservation_path(base).unlink(missing_ok=True)
        subnet = free_subnet(conn, salt=base)
        if is_real(conn):
            _reservation_path(base).write_text(subnet + "\n")
        else:
            _TEST_RESERVATIONS[base] = subnet
        return subnet


#: The lease held while a new network gets its subnet and bridge, and is defined and started.
#: Both are chosen by looking at what exists (we take a 10.213.x.0/24 that no network uses,
#: libvirt the first virbrN that no network names), so two sessions doing it at the same moment
#: could choose the same;
#: under this lease the second one sees the first one's network and chooses another.
NETWORK_LEASE = "libvirt-network-addresses"


def network_lease(conn):
    """A context manager that holds :data:`NETWORK_LEASE` on a real host (nothing to hold on the test driver)."""
    from helpers.core import leases
    if not is_real(conn) or leases.held(NETWORK_LEASE):
        return nullcontext()   # test:///default is a simulated host of this process alone
    what = "the choice of a bridge and subnet for a new libvirt network"
    try:   # held for a second or two: wait quietly at first
        return leases.acquire(NETWORK_LEASE, what=what, wait=5, progress=None)
    except leases.LeaseBusy:
        return leases.acquire(NETWORK_LEASE, what=what, wait=180)


def networks(conn, *, session_only: bool = True) -> list:
    """``listAllNetworks()``: this session's networks (every network with ``session_only=False``)."""
    return [n for n in conn.listAllNetworks(0) if mine(n) or not session_only]


def network_rows(conn, names: list[str] | None = None, *, session_only: bool = True) -> list[dict]:
    """:func:`network_summary` of each network (those named in ``names``, else this session's, or
    every one with ``session_only=False``), leaving out one that its session removes meanwhile."""
    nets = [n for n in networks(conn, session_only=session_only and names is None)
            if names is None or n.name() in names]
    return each_present(nets, network_summary, libvirt.VIR_ERR_NO_NETWORK)


def bridge_state(bridge: str) -> dict | None:
    """What Linux says about a bridge: administratively up, carrier, operstate, and its ports.

    ``None`` when there is no such interface here (e.g. under the test driver).
    """
    base = Path("/sys/class/net") / bridge
    if not base.is_dir():
        return None

    def read(f, default=""):
        try:
            return (base / f).read_text().strip()
        except OSError:   # carrier cannot be read while the interface is down
            return default
    return {"bridge": bridge, "up": bool(int(read("flags", "0"), 16) & 1), "carrier": read("carrier", "0") == "1",
            "operstate": read("operstate", "?").upper(),
            "ports": sorted(p.name for p in (base / "brif").iterdir()) if (base / "brif").is_dir() else []}


def network_summary(net) -> dict:
    """Name, state, mode, bridge and addresses of a network (``virsh net-info`` and more)."""
    root = ET.fromstring(net.XMLDesc())
    fwd = root.find("forward")
    ip = root.find("ip")
    bridge = root.find("bridge")
    return {"name": net.name(), "UUID": net.UUIDString(), "active": bool(net.isActive()),
            "persistent": bool(net.isPersistent()),
            "mode": fwd.get("mode", "nat") if fwd is not None else "isolated",
            "bridge": (bridge.get("name") if bridge is not None else None) or "-",
            "address": f"{ip.get('address')}/{ip.get('netmask') or ip.get('prefix')}" if ip is not None else "-"}


def remove_network(net) -> None:
    try:
        if net.isActive():
            net.destroy()
    except libvirt.libvirtError:
        pass
    try:
        if net.isPersistent():
            net.undefine()
    except libvirt.libvirtError:
        pass


def check_isolated_network(xml: str, conn=None) -> Verdict:
    """Exercise check: is ``xml`` an isolated network of this session that libvirt accepts and runs?

    It judges the XML text alone: it parses it, then creates it as a transient network
    (``networkCreateXML``) under :data:`NETWORK_LEASE`, inspects it and removes it again.
    A subnet that a host interface, another network or another session's reservation
    already uses is reported as such (under the lease, so the answer holds until libvirt
    creates the network).
    """
    v = Verdict("Exercise 2: an isolated network")
    if not isinstance(xml, str) or not xml.strip():
        return v.not_attempted("my_xml holds no XML yet",
                               hint="write the <network> element in my_xml, as a string")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        v.fail(f"the XML is not well-formed (the parser says: {exc})",
               hint="close every tag (<ip .../> or <ip ...></ip>) and quote every attribute")
        return v
    if root.tag == "network" and root.find("name") is None and root.find("ip") is None and root.find("forward") is None:
        return v.not_attempted("the <network> element has no <name> and no <ip> yet",
                               hint="name it with virt.name('isolated') and give the host side an "
                                    "<ip address=... netmask=...> in the subnet reserved above")
    if not v.add(root.tag == "network", "the root element is <network>", hint=f"the root element is <{root.tag}>: "
                 "a network definition starts with <network>"):
        return v
    net_name = (root.findtext("name") or "").strip()
    v.add(mine(net_name) and len(net_name) > len(name("")),
          f"the name belongs to this session ({net_name or 'no <name>'})",
          hint="name it with virt.name('isolated'), so that clean-up finds it and no other session's "
               "network has the same name")
    v.add(root.find("forward") is None, "there is no <forward> element (that is what makes it isolated)",
          hint="remove <forward ...>: with it the guests could reach the outside")
    ip = root.find("ip")
    subnet = None
    if ip is not None and ip.get("address") and (ip.get("netmask") or ip.get("prefix")):
        try:
            subnet = ipaddress.ip_network(f"{ip.get('address')}/{ip.get('netmask') or ip.get('prefix')}", strict=False)
        except ValueError as exc:
            v.fail(f"the <ip> element does not give a valid address and mask ({exc})",
                   hint="write e.g. <ip address='10.213.7.1' netmask='255.255.255.0'/>")
        else:
            v.ok(f"an <ip> element gives the host's side of the switch the address {ip.get('address')} ({subnet})")
    elif ip is None or not ip.get("address"):
        v.fail("no <ip address=...> gives the host's side of the switch an address",
               hint="add an <ip address=... netmask='255.255.255.0'/> in the subnet reserved above, e.g. "
                    "address f'{prefix}.1'")
    else:
        v.fail(f"<ip address='{ip.get('address')}'> has no netmask",
               hint="add netmask='255.255.255.0' (or prefix='24') to the <ip> element")
    if not v.passed:
        return v
    conn = conn or connect()
    with network_lease(conn):  # nobody else chooses a subnet or a bridge until ours exists (and is gone)
        try:
            old = conn.networkLookupByName(net_name)
        except libvirt.libvirtError:
            old = None
        if old is not None:
            remove_network(old)
            v.note(f"a network named {net_name} already existed (an earlier cell made it): the check removed it "
                   f"and created yours from my_xml")
        clash = [who for used, who in _subnet_users(conn, own_reservations=False) if subnet.overlaps(used)]
        if not v.add(not clash, f"the subnet {subnet} is free on this host",
                     hint=f"{subnet} is already used by {clash[0] if clash else ''}: use the subnet reserved for you "
                          f"(subnet = virt.reserve_subnet(conn, 'isolated'), address f'{{prefix}}.1')"):
            return v
        try:
            net = conn.networkCreateXML(xml)
        except libvirt.libvirtError as exc:
            v.fail(f"libvirt refused to create and start it ({_first_line(exc.get_error_message())})",
                   hint="fix what libvirt names and run your cell and the check again")
            return v
        try:
            summary = network_summary(net)
            v.add(summary["active"] and summary["mode"] == "isolated",
                  f"libvirt runs it as an isolated network (bridge {summary['bridge']}, host address {summary['address']})",
                  hint=f"libvirt reports it as active={summary['active']}, mode {summary['mode']}")
        finally:
            remove_network(net)
    v.note("the check removed the network again")
    return v


# --------------------------------------------------------------------------- storage

def pools_root() -> Path:
    from helpers.virtualization import guest
    d = guest.GUEST_DIR / "pools"
    d.mkdir(parents=True, exist_ok=True)
    return d


POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}


def pool_rows(conn, *, session_only: bool = True) -> list[dict]:
    """Pools with their state and sizes (the chapter's loop over ``listAllStoragePools``).

    This session's pools, or every pool with ``session_only=False``; a pool that
    another session removes while we read it is left out.
    """
    def row(p):
        st, cap, alloc, avail = p.info()
        return {"name": p.name(), "state": POOL_STATES.get(st, st),
                "volumes": p.numOfVolumes() if p.isActive() else "-",
                "capacity (GiB)": round(cap / 2**30, 2), "allocation (GiB)": round(alloc / 2**30, 2),
                "available (GiB)": round(avail / 2**30, 2)}

    pools = [p for p in conn.listAllStoragePools(0) if mine(p) or not session_only]
    return each_present(pools, row, libvirt.VIR_ERR_NO_STORAGE_POOL)


def volume_rows(pool_) -> list[dict]:
    """Every volume of a pool: capacity (what the guest sees) and allocation (what the host spends)."""
    def row(vol_name):
        v = pool_.storageVolLookupByName(vol_name)
        kind, cap, alloc = v.info()
        fmt = ET.fromstring(v.XMLDesc(0)).find("target/format")
        return {"name": vol_name, "format": fmt.get("type") if fmt is not None else "?",
                "capacity (MiB)": round(cap / 2**20, 1), "allocation (MiB)": round(alloc / 2**20, 2),
                "path": v.path()}

    pool_.refresh(0)
    return each_present(pool_.listVolumes(), row, libvirt.VIR_ERR_NO_STORAGE_VOL)


def remove_pool(p) -> list[str]:
    removed = []
    try:
        if not p.isActive():
            p.create(0)
        p.refresh(0)
        for vol_name in p.listVolumes():
            try:
                p.storageVolLookupByName(vol_name).delete(0)
                removed.append(f"libvirt volume {vol_name}")
            except libvirt.libvirtError:
                pass
    except libvirt.libvirtError:
        pass
    try:
        if p.isActive():
            p.destroy()
    except libvirt.libvirtError:
        pass
    try:
        p.delete(0)  # removes the (now empty) directory
    except libvirt.libvirtError:
        pass
    try:
        p.undefine()
    except libvirt.libvirtError:
        pass
    return removed


# --------------------------------------------------------------------------- clean-up

def _cleanup_connections() -> list:
    conns = []
    for conn in list(_CONNECTIONS.values()):
        if _alive(conn):
            conns.append(conn)
    if not any(c.getURI() == SYSTEM_URI for c in conns):
        try:
            conns.append(_CONNECTIONS.setdefault(SYSTEM_URI, _open(SYSTEM_URI, 5)))
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
        _TEST_RESERVATIONS.clear()
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


# --------------------------------------------------------------------------- exercise 1: saved and back

_RESTORED_REASONS = {libvirt.VIR_DOMAIN_RUNNING_RESTORED: "restored", libvirt.VIR_DOMAIN_RUNNING_UNPAUSED: "unpaused"}
_RUNNING_REASONS = {libvirt.VIR_DOMAIN_RUNNING_BOOTED: "booted", **_RESTORED_REASONS}


class SavedAndBackExercise:
    """Notebook 08's exercise 1: the check judges what happens to a domain from now on, and nothing before.

    Create it where the exercise begins (``ex1 = virt.SavedAndBackExercise(dom)``); its
    :meth:`check` (or :func:`check_saved_and_back`) reads the steps recorded in
    :data:`HISTORY` since then.  Each check judges the attempt made since the previous
    check (a cell that only restores what an earlier attempt saved does not pass);
    run again with nothing new done, it judges the same attempt again.
    """

    def __init__(self, dom):
        self.conn = dom.connect()
        self.dom_name = dom.name()
        self.begin = len(HISTORY)
        self._judged: tuple[int, int] | None = None
        self.state_at_start = lifecycle_state(self.conn, self.dom_name)

    def __repr__(self):
        return (f"Exercise 1 begins: {self.dom_name} is {self.state_at_start} now; the check will judge "
                f"only what you do to it from here on.")

    def _attempt(self) -> tuple[list[Step], bool]:
        """The steps of the current attempt, and whether it is the exercise's first."""
        now = len(HISTORY)
        start = self._judged[1] if self._judged else self.begin
        if self._judged and not [s for s in HISTORY[start:now] if s.domain == self.dom_name]:
            start, now = self._judged            # nothing new: judge the last attempt again
        first = start == self.begin
        self._judged = (start, now)
        return [s for s in HISTORY[start:now] if s.domain == self.dom_name], first

    def check(self) -> Verdict:
        return check_saved_and_back(self)


def check_saved_and_back(exercise: SavedAndBackExercise) -> Verdict:
    """Exercise check: in this attempt, did the domain go running → saved (a file) → running from that file?

    Only the steps recorded after ``exercise`` began (and since the previous check)
    count; the domain's current state comes from libvirt itself (``dom.state()``:
    running, with the reason *restored* rather than *booted*).
    """
    if not isinstance(exercise, SavedAndBackExercise):
        raise WorkbookError("check_saved_and_back expects the exercise object, e.g. ex1 = "
                            "virt.SavedAndBackExercise(dom) and then virt.check_saved_and_back(ex1).")
    conn, dom_name = exercise.conn, exercise.dom_name
    v = Verdict(f"Exercise 1: {dom_name} from running to saved and back")
    steps, first = exercise._attempt()
    since = "the exercise began" if first else "the previous check"
    dom = _existing(conn, dom_name)
    if dom is None and not save_path(dom_name).exists():
        v.fail(f"there is no domain named {dom_name} on {conn.getURI()} any more",
               hint="run the cell that defines dom again (dom = virt.define(conn, guest_xml)), then the exercise's cells")
        return v
    try:
        state, reason = dom.state() if dom is not None else (libvirt.VIR_DOMAIN_SHUTOFF, 0)
    except libvirt.libvirtError:
        state, reason = libvirt.VIR_DOMAIN_SHUTOFF, 0
    running = state == libvirt.VIR_DOMAIN_RUNNING
    if not steps:
        if running and reason == libvirt.VIR_DOMAIN_RUNNING_RESTORED:
            return v.not_attempted(
                f"libvirt says {dom_name} was restored, but no virt.save / virt.restore was done since {since}",
                hint="use virt.save(dom) and virt.restore(conn, path): the check follows what they record")
        return v.not_attempted(f"nothing was done to {dom_name} since {since}",
                               hint="start it (virt.start(dom)), save it with saved_image = virt.save(dom), "
                                    "then restore it with virt.restore(conn, saved_image)")
    ops = ", ".join(s.op for s in steps)
    v.note(f"since {since}: {ops}")
    saves = [i for i, s in enumerate(steps) if s.op == "save" and s.after == "saved"]
    restores = [i for i, s in enumerate(steps) if s.op == "restore" and s.after == "running"]
    if saves:
        v.ok(f"it was saved to a file ({Path(steps[saves[0]].path or '').name}) in this attempt (virt.save = virsh save)")
    elif restores:
        v.fail("it was restored from an image saved before this attempt began, but this attempt saved nothing itself",
               hint="save it in your attempt too: saved_image = virt.save(dom), then virt.restore(conn, saved_image)")
    else:
        v.fail("it was not saved to a file in this attempt",
               hint="save the running domain: saved_image = virt.save(dom) (virsh save)")
    later = [i for i in restores if saves and i > saves[0]]
    written = {steps[i].path for i in saves}
    from_own = [i for i in later if steps[i].path in written]
    if saves:
        if from_own:
            v.ok("it was restored from that file afterwards (virt.restore(conn, path) = virsh restore)")
        elif later:
            v.fail(f"it was restored from {steps[later[-1]].path}, which this attempt did not write",
                   hint="restore the file your save returned: virt.restore(conn, saved_image)")
        else:
            v.fail("it was not restored from its file afterwards",
                   hint="bring it back with virt.restore(conn, saved_image); virt.start would boot it afresh "
                        "and the saved memory would be lost")
    why = _RUNNING_REASONS.get(reason, f"reason {reason}") if running else None
    after_restore = [s.op for s in steps[from_own[-1] + 1:]] if from_own else []
    if running and from_own and reason in _RESTORED_REASONS and not {"start", "shutdown", "destroy", "save"} & set(after_restore):
        v.ok(f"it is running now from the restored memory (libvirt: state running, reason {why})")
    elif running and reason == libvirt.VIR_DOMAIN_RUNNING_BOOTED:
        v.fail("it is running, but libvirt says it was booted afresh (reason: booted), not restored from the file",
               hint="end with the restore: virt.restore(conn, saved_image), not virt.start(dom), which boots it "
                    "from scratch")
    elif running:
        v.note(f"it is running now (libvirt: reason {why})")
    else:
        v.fail(f"it is not running now (lifecycle state: {lifecycle_state(conn, dom_name)})",
               hint="it should end running: virt.restore(conn, saved_image) runs it again")
    v.add(not save_path(dom_name).exists(), "no stale saved image is left behind",
          hint=f"a saved image is still waiting at {save_path(dom_name)}: restore it (virt.restore(conn, saved_image))")
    return v
