"""Virtual networks: a free subnet for a new network (under a lease, kept by a reservation), views of networks and bridges.

The network XML and the calls (``conn.networkDefineXML(xml)``, ``net.create()``,
``conn.networkCreateXML(xml)``, ``net.destroy()``, ``net.undefine()``) are the notebook's.
What a cell cannot show in a few lines is choosing a subnet that nothing on this host uses
(:func:`free_subnet`), keeping it for this session between two cells (:func:`reserve_subnet`),
and doing both while another session may choose at the same moment (:func:`network_lease`).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import uuid as uuidlib
import xml.etree.ElementTree as ET
from contextlib import nullcontext
from pathlib import Path

import libvirt

from helpers.core import session
from helpers.core.errors import AlreadyInUse
from helpers.virtualization.connection import CONNECTIONS, each_present, is_real, mine, quietly


def subnet_users(conn, *, own_reservations: bool = True) -> list[tuple]:
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
    for conn_ in {id(c): c for c in [conn, *CONNECTIONS.values()]}.values():
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
    return [subnet for subnet, _ in subnet_users(conn)]


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
TEST_RESERVATIONS: dict[str, str] = {}


def _reservation_path(base: str) -> Path:
    from helpers.virtualization import guest
    return guest.session_dir() / f"{session.resource_name(base)}.subnet"


def _reservations() -> dict[tuple[str, str], str]:
    """(session, file name) -> subnet for every reservation on this host, plus this process's test ones."""
    found = {(session.SESSION_ID, f"test:{b}"): sub for b, sub in TEST_RESERVATIONS.items()}
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
            mine_now = TEST_RESERVATIONS.get(base)
        else:
            try:
                mine_now = _reservation_path(base).read_text().strip()
            except OSError:
                mine_now = None
        if mine_now:
            cand = ipaddress.ip_network(mine_now)
            clash = [who for sub, who in subnet_users(conn, own_reservations=False) if cand.overlaps(sub)]
            if not clash:
                return mine_now
        TEST_RESERVATIONS.pop(base, None)
        if is_real(conn):
            _reservation_path(base).unlink(missing_ok=True)
        subnet = free_subnet(conn, salt=base)
        if is_real(conn):
            _reservation_path(base).write_text(subnet + "\n")
        else:
            TEST_RESERVATIONS[base] = subnet
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


def network_rows(conn, names: list[str] | None = None, *, session_only: bool = True) -> list[dict]:
    """:func:`network_summary` of each network (those named in ``names``, else this session's, or
    every one with ``session_only=False``), leaving out one that its session removes meanwhile."""
    everyone = not session_only or names is not None
    nets = [n for n in conn.listAllNetworks(0) if (mine(n) or everyone) and (names is None or n.name() in names)]
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
    """``net.destroy()`` and ``net.undefine()`` whatever its state (clean-up)."""
    if quietly(net.isActive):
        quietly(net.destroy)
    if quietly(net.isPersistent):
        quietly(net.undefine)
