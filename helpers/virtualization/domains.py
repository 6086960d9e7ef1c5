"""Domains: the XML of this session's guest, the lifecycle's states and transitions, listings, removal.

The lifecycle calls themselves are libvirt's, made in the notebook's cells (``dom.create()``,
``dom.suspend()``, ``dom.save(path)``, ``conn.restore(path)``...); this module names the
states of the chapter's diagram (:func:`lifecycle_state`, :data:`TRANSITIONS`), writes a
domain XML that suits the connection (:func:`domain_xml`), waits a bounded time for a guest
to power off (:func:`wait_shut_off`) and removes a domain with its files (:func:`remove_domain`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import libvirt

from helpers.core import session
from helpers.core.errors import NotFound, WorkbookError
from helpers.virtualization.connection import domain_type, each_present, is_real, mine, quietly

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

#: Sample XML definitions (``data/libvirt/*.xml``), named ``example-*``.
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "libvirt"


def sample_xml(sample: str, base: str | None = None) -> str:
    """The sample ``data/libvirt/<sample>.xml``; with ``base``, renamed to this session's ``resource_name(base)``."""
    path = DATA_DIR / f"{sample}.xml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in DATA_DIR.glob("*.xml")))
        raise NotFound(f"There is no sample {sample!r}: choose one of {known}.")
    text = path.read_text()
    if base:
        text = re.sub(r"<name>example-[^<]*</name>", f"<name>{session.resource_name(base)}</name>", text, count=1)
    return text


def console_log_path(dom_name: str) -> Path:
    """Where a real guest's serial console is copied (a file of this session)."""
    from helpers.virtualization import guest
    return guest.session_dir() / f"{dom_name}.console.log"


def save_path(dom_name: str) -> Path:
    """This session's file for ``dom.save(path)`` / ``conn.restore(path)`` of a domain."""
    from helpers.virtualization import guest
    return guest.session_dir() / f"{dom_name}.save"


def domain_xml(conn, base: str = "guest", *, network: str | None = None, disk: str | None = None,
               memory_mib: int = 128, vcpus: int = 1) -> str:
    """XML for a session domain that suits ``conn``: the tiny guest on QEMU, a stub on the test driver.

    On QEMU the serial console is copied to :func:`console_log_path` (rewritten at every start).
    """
    dom_name = session.resource_name(base) if not base.startswith(session.NAME_PREFIX + "-") else base
    if not is_real(conn):
        nic = (f"<interface type='network'><source network='{network}'/></interface>" if network else "")
        return (f"<domain type='test'>\n  <name>{dom_name}</name>\n  <memory unit='MiB'>{memory_mib}</memory>\n"
                f"  <vcpu>{vcpus}</vcpu>\n  <os><type arch='x86_64'>hvm</type></os>\n"
                f"  <devices>{nic}</devices>\n</domain>\n")
    from helpers.virtualization import guest
    return guest.domain_xml(dom_name, guest.ensure(), console_log=console_log_path(dom_name),
                            memory_mib=memory_mib, vcpus=vcpus, domain_type=domain_type(conn),
                            network=network, disk=disk)


def _existing(conn, dom_name):
    try:
        return conn.lookupByName(dom_name)
    except libvirt.libvirtError:
        return None


def lifecycle_state(conn, dom_name: str) -> str:
    """The chapter's lifecycle state: undefined, defined, running, paused or saved.

    *saved* means shut off with a saved image waiting: this session's :func:`save_path`
    file, or libvirt's managed-save image.
    """
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


def wait_shut_off(dom, timeout: float = 60) -> bool:
    """Wait at most ``timeout`` s for ``dom`` to stop (after ``dom.shutdown()``); True if it did.

    A transient domain that stopped is gone: that counts as stopped.  ``dom.shutdown()`` only
    *asks* the guest OS (the ACPI power button): a guest that is still booting, or has no
    ACPI handler, ignores it, and then the caller decides (``dom.destroy()`` pulls the plug).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if not dom.isActive():
                return True
        except libvirt.libvirtError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def remove_domain(dom) -> None:
    """Stop and forget a domain, with its managed-save image and session files."""
    dom_name = dom.name()
    if quietly(dom.isActive):
        quietly(dom.destroy)
    flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
             | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    if quietly(dom.isPersistent) and quietly(dom.undefineFlags, flags) is None:
        quietly(dom.undefine)          # a driver that does not know one of the flags
    save_path(dom_name).unlink(missing_ok=True)
