"""Opening libvirt: which URI this notebook uses (and why), shared connections, what the hypervisor offers.

::

    conn = connection.connect()    # argument > $WORKBOOK_LIBVIRT_URI > qemu:///system > test:///default

``qemu:///system`` runs real guests (the tiny guest of :mod:`helpers.virtualization.guest`);
``test:///default`` is libvirt's embedded test driver: it needs no daemon and simulates a
host in *this process* (its state vanishes with the process, and a ``virsh`` started beside
it sees a fresh simulated host of its own).

It also says which objects are this session's (:func:`mine`: named ``wb-<session>-...``)
and lists them while another session removes its own (:func:`each_present`).
"""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET

import libvirt

from helpers.core import session
from helpers.core.errors import DaemonUnavailable, WaitTimeout, WorkbookError, run_with_timeout

# libvirt prints every error on stderr by default; ours arrive as exceptions.
libvirt.registerErrorHandler(lambda *_: None, None)

SYSTEM_URI = "qemu:///system"
TEST_URI = "test:///default"
URI_ENV = "WORKBOOK_LIBVIRT_URI"

_LOCK = threading.RLock()
#: The shared connections, by URI (the clean-up walks them too).
CONNECTIONS: dict[str, libvirt.virConnect] = {}
_CHOICE: dict = {}


def first_line(text: str | None) -> str:
    """The first line of a libvirt message, without its final full stop."""
    return (text or "").strip().splitlines()[0].rstrip(".") if (text or "").strip() else "no details"


def _open(uri: str, timeout: float) -> libvirt.virConnect:
    """``libvirt.open(uri)`` within ``timeout`` seconds (a wedged daemon would block forever)."""
    try:
        return run_with_timeout(lambda: libvirt.open(uri), timeout=timeout, what=f"libvirt at {uri}")
    except WaitTimeout:
        raise DaemonUnavailable(f"libvirt at {uri} did not answer within {timeout:g} s: check that the "
                                f"daemon runs (`systemctl status libvirtd`) or use test:///default.") from None
    except libvirt.libvirtError as exc:
        code, msg = exc.get_error_code(), first_line(exc.get_error_message())
        if code == libvirt.VIR_ERR_NO_CONNECT and "no connection driver" in msg:
            raise DaemonUnavailable(f"No libvirt driver understands the URI {uri!r} ({msg}): check its "
                                    f"spelling, e.g. qemu:///system or test:///default.") from None
        if code == libvirt.VIR_ERR_AUTH_FAILED or "authentication" in msg.lower() or "permission" in msg.lower():
            raise DaemonUnavailable(f"You may not use {uri} ({msg}): run as root, join the libvirt "
                                    f"group, or use qemu:///session or test:///default.") from None
        raise DaemonUnavailable(f"Cannot connect to libvirt at {uri} ({msg}): start the daemon "
                                f"(`sudo systemctl start libvirtd`) or use test:///default.") from None


def alive(conn) -> bool:
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
    when it answers, else ``test:///default`` (:func:`show_connection` says why).

    A URI that does not answer raises :class:`helpers.core.errors.DaemonUnavailable` (one sentence).
    """
    with _LOCK:
        chosen, why = choose_uri(uri)
        conn = CONNECTIONS.get(chosen)
        if conn is None or not alive(conn):
            conn = _open(chosen, timeout)
            CONNECTIONS[chosen] = conn
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


def version_text(number: int) -> str:
    """libvirt encodes versions as major*1e6 + minor*1e3 + release."""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


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


def domain_type(conn=None) -> str:
    """``'kvm'`` when a KVM guest really boots here (a cached boot probe), else ``'qemu'`` (TCG)."""
    try:
        from helpers import envcheck
        return "kvm" if envcheck.kvm_usable() else "qemu"
    except Exception:
        return "qemu"


# --------------------------------------------------------------------------- this session's objects
#
# On a shared host (qemu:///system) several kernels run at once: two students, or the
# same notebook in two tabs.  A listing (listAllDomains, listAllNetworks...) returns
# every object on the host, and between the listing and the next call on one of them
# (info(), state(), XMLDesc(), isActive()...) its owner may undefine it: libvirt then
# answers "Domain not found: no domain with matching uuid ...".  The helpers list this
# session's objects only (by name), and skip an object that vanished meanwhile.

_GONE = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK, libvirt.VIR_ERR_NO_STORAGE_POOL,
         libvirt.VIR_ERR_NO_STORAGE_VOL)


def vanished(exc: libvirt.libvirtError, *codes: int) -> bool:
    """True when ``exc`` says the object no longer exists (``codes``: which ``VIR_ERR_NO_*`` count; default all four)."""
    return exc.get_error_code() in (codes or _GONE)


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


def quietly(call, *args):
    """``call(*args)``, or None when libvirt raises (clean-up: the object may be gone, or not in that state)."""
    try:
        return call(*args)
    except libvirt.libvirtError:
        return None
