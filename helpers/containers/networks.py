"""What notebook 10 (§2.12.2 Docker networks) cannot show in a few lines of a cell.

The lesson's cells call the Docker SDK themselves (``client.networks.create(...)``,
``net.connect(box)``, ``box.exec_run(...)``...) and run the ``docker network ...`` commands
beside them; this module keeps the rest:

* :func:`netcat_conversation`: two containers talk through netcat, without a terminal.
* :func:`free_subnet`: a private /24 that no Docker network and no route of this host uses, for
  ``--subnet`` (two sessions may create networks at the same moment, so a fixed one would clash).
* :func:`default_interface`, :func:`default_gateway`: the host's LAN interface and its router.
* :func:`acquire_macvlan`: the machine-wide lease on the one macvlan network Docker allows on an
  interface.
* :func:`topology_state` and :func:`topology`: networks, containers, addresses and published
  ports of this session, as the engine reports them, drawn with matplotlib.

Names made here are ``wb-<session>-<base>`` so that kernels never collide;
diagrams show them without that prefix (:func:`short`).
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from typing import Sequence

from helpers.containers import lifecycle, engine
from helpers.core import leases, session
from helpers.core.errors import WorkbookError, wait_for

#: Networks every Docker engine has; they are never removed by the workbook.
PREDEFINED = ("bridge", "host", "none")
#: The small image with netcat, ping and ip (data/images/netcat).
TOOLS_IMAGE = "netcat"


def short(full: str) -> str:
    """``wb-1a2b3c4d-c1`` -> ``c1`` (the session prefix removed, for display)."""
    return re.sub(r"^wb-[0-9a-f]{8}-", "", full)


def netcat_conversation(*, network: str | None = None, port: int = 8000,
                        reply: str = "hello from the server",
                        lines: Sequence[str] = ("first line from the client", "second line"),
                        timeout: float = 20) -> dict:
    """Two containers talk through netcat, no terminal needed.

    A server container runs ``nc -l -p PORT`` (it prints what it receives and
    answers ``reply``); a client container pipes ``lines`` into
    ``nc SERVER_IP PORT``.  Returns the server's address, what the server
    received (its log) and what the client received (its output).
    """
    import docker.errors

    client = engine.client()
    server_name, client_name = session.resource_name("nc-server"), session.resource_name("nc-client")
    for old in (server_name, client_name):
        try:
            client.containers.get(old).remove(force=True)
        except docker.errors.NotFound:
            pass
    net = {"network": network} if network else {}
    server = client.containers.run(TOOLS_IMAGE, ["sh", "-c", 'echo "$REPLY" | nc -l -p "$PORT"'], detach=True,
                                   name=server_name, labels=session.labels(), **net,
                                   environment={"REPLY": reply, "PORT": str(port)})
    try:
        wait_for(lambda: f":{port}" in server.exec_run(["ss", "-ltn"]).output.decode(), timeout=timeout,
                 what="the netcat server to listen")
        server.reload()
        ip = server.attrs["NetworkSettings"]["Networks"][network or "bridge"]["IPAddress"]
        client_out = client.containers.run(
            TOOLS_IMAGE, ["sh", "-c", 'printf "%s\\n" "$LINES" | nc -N -w 3 "$SERVER" "$PORT"'], remove=True,
            name=client_name, labels=session.labels(), **net,
            environment={"LINES": "\n".join(lines), "SERVER": ip, "PORT": str(port)})
        server.wait(timeout=timeout)
        received = server.logs().decode(errors="replace")
    finally:
        server.remove(force=True)
    return {"server": server_name, "server_ip": ip, "port": port, "server_received": received.strip(),
            "client_received": client_out.decode(errors="replace").strip()}


def free_subnet(*, pool: str = "10.0.0.0/8", prefix: int = 24) -> str:
    """A ``/prefix`` of ``pool`` that overlaps no Docker network of this engine and no route of
    this host.  The search starts at a place chosen from the session id, so two sessions asking
    at the same moment get different answers."""
    used = [ipaddress.ip_network(cfg["Subnet"], strict=False)
            for net in engine.client().networks.list()
            for cfg in ((net.attrs.get("IPAM") or {}).get("Config") or []) if ":" not in cfg.get("Subnet", ":")]
    used += _host_routes()
    candidates = list(ipaddress.ip_network(pool).subnets(new_prefix=prefix))
    start = zlib.crc32(session.SESSION_ID.encode()) % len(candidates)
    for i in range(len(candidates)):
        net = candidates[(start + i) % len(candidates)]
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise WorkbookError(f"Every /{prefix} of {pool} is used by a Docker network or a route of this host; "
                        f"remove some networks (docker network prune) and run this again.")


def _host_routes() -> list:
    """The IPv4 destinations this host routes (its LANs, other bridges), from /proc/net/route."""
    found = []
    try:
        with open("/proc/net/route") as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
    except OSError:
        return found
    for fields in rows:
        if len(fields) > 7 and fields[1] != "00000000":
            dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            found.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return found


# --- macvlan: one per interface and machine -----------------------------------------------

def default_interface() -> str:
    """The host interface that carries its default route (``eth0`` on most machines)."""
    try:
        with open("/proc/net/route") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 1 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    raise WorkbookError("This host has no default route, so there is no LAN interface to put a macvlan "
                        "network on.")


def default_gateway() -> str | None:
    """The IPv4 address of the router the host's default route goes through (None without one)."""
    import socket
    import struct

    try:
        with open("/proc/net/route") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
                    return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    except OSError:
        pass
    return None


#: A documentation-only range (RFC 5737, TEST-NET-2): never routed, so it clashes with nothing real.
MACVLAN_SUBNET = "198.51.100.0/24"


def macvlan_lease(parent: str) -> str:
    """The lease name of the one macvlan network Docker allows on host interface ``parent``."""
    return f"docker-macvlan-{parent}"


def acquire_macvlan(parent: str, *, wait: float = 300) -> leases.Lease:
    """Take the machine-wide lease on the macvlan network of host interface ``parent``.

    Docker allows one macvlan network per parent interface, so two notebooks must not both try
    to create it: while another session holds the lease, this waits (saying which session, for
    ``wait`` seconds at most, then raises :class:`helpers.core.leases.LeaseBusy`).  With the lease
    held, the cell itself creates the network (``client.networks.create(NAME, driver="macvlan",
    options={"parent": parent}, ipam=...)``, i.e. ``docker network create -d macvlan
    -o parent=IFACE --subnet SUBNET NAME``); removing the network and calling ``lease.release()``
    hands the interface to the next notebook (``helpers.cleanup()`` does it too)."""
    return leases.acquire(macvlan_lease(parent), wait=wait,
                          what=f"the macvlan network on {parent} (Docker allows one per interface)")


# --- the topology diagram -------------------------------------------------------------

def topology_state(*, session_only: bool = True, always: Sequence[str] = ("bridge",)) -> dict:
    """The engine's real state for the diagram: this session's containers and the networks
    they (or this session) use, with addresses and published ports."""
    cli = engine.client()
    flt = engine.session_filter() if session_only else None
    conts = cli.containers.list(all=True, filters=flt, ignore_removed=True)
    nets = {n.name: n for n in cli.networks.list()}
    used = set(always)
    items = []
    for c in sorted(conts, key=lambda c: c.attrs.get("Created", "")):
        ns = c.attrs["NetworkSettings"]
        mode = c.attrs["HostConfig"].get("NetworkMode", "")
        cnets = {net: (d.get("IPAddress") or "") for net, d in (ns.get("Networks") or {}).items()}
        used |= set(cnets)
        items.append({"name": c.name, "label": short(c.name), "image": lifecycle.image_name(c),
                      "state": c.status, "networks": cnets, "ports": lifecycle.port_lines(c),
                      "network_mode": mode})
    for n in nets.values():
        if (n.attrs.get("Labels") or {}).get(session.SESSION_LABEL) == session.SESSION_ID:
            used.add(n.name)
    networks = []
    for net_name in sorted(used, key=lambda x: (x not in PREDEFINED, PREDEFINED.index(x) if x in PREDEFINED else 0, x)):
        n = nets.get(net_name)
        if n is None:
            continue
        cfg = ((n.attrs.get("IPAM") or {}).get("Config") or [{}])
        cfg = cfg[0] if cfg else {}
        networks.append({"name": net_name, "label": short(net_name), "driver": n.attrs.get("Driver"),
                         "subnet": cfg.get("Subnet", ""), "gateway": cfg.get("Gateway", ""),
                         "internal": bool(n.attrs.get("Internal"))})
    return {"networks": networks, "containers": items}


_STATE_COLOURS = {"running": "#c8e6c9", "paused": "#fff3c4", "created": "#e3f2fd", "exited": "#eeeeee",
                  "restarting": "#ffe0b2", "dead": "#ffcdd2"}
#: The predefined networks keep their colour; any other network takes one from its (short) name.
_FIXED_COLOURS = {"bridge": "#1565c0", "none": "#757575", "host": "#000000"}
_NET_COLOURS = ["#6a1b9a", "#2e7d32", "#ef6c00", "#00838f", "#ad1457", "#4e342e", "#9e9d24", "#5d4037",
                "#283593", "#00695c"]


def network_colour(net_name: str) -> str:
    """The colour a network has in every diagram: fixed for ``bridge``, ``none`` and ``host``,
    else chosen from its name without the session prefix (so ``mynet`` keeps its colour from one
    step to the next, whatever other networks come and go, and in every session)."""

    label = short(net_name)
    if label in _FIXED_COLOURS:
        return _FIXED_COLOURS[label]
    return _NET_COLOURS[zlib.crc32(label.encode()) % len(_NET_COLOURS)]


def _network_order(net: dict) -> tuple:
    # bridge (and host) first, then the other networks by name; `none` last, as it connects nothing
    return ({"bridge": 0, "host": 1, "none": 3}.get(net["name"], 2), net["label"])


def topology(title: str = "Docker networks of this notebook", *, state: dict | None = None, ax=None):
    """Draw networks (horizontal lines), containers (boxes, coloured by state), each
    container's address on each network, and published ports from the host, as the
    engine reports them now.  Returns the matplotlib figure.

    The drawing is as wide as its containers need (the network labels take the left
    margin), and the gap under the host is only as tall as the published ports need."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    st = state or topology_state()
    conts = st["containers"]
    nets = sorted((n for n in st["networks"] if n["name"] != "host"), key=_network_order)
    host_net = any(n["name"] == "host" for n in st["networks"])
    ports = max((len(c["ports"]) for c in conts), default=0)
    left, slot = 2.3, 2.6  # the network labels' margin, one container's column
    x_max = max(left + slot * max(len(conts), 1) + 0.2, 7.0)
    # centre the containers when there are few of them
    x0 = left + (x_max - 0.2 - left - slot * len(conts)) / 2 + slot / 2
    xs = [x0 + slot * i for i in range(len(conts))]
    gap = 1.2 + 0.28 * (ports - 1) if ports else 0.6  # from the host box down to the containers
    box_h = 1.0
    top = 0.45 + gap + box_h + 0.9 + 0.75 * max(len(nets) - 1, 0)  # host box .. lowest network
    height = top + 0.5
    host_y, box_y = height - 0.55, height - 0.55 - gap - box_h + 0.3
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(min(0.85 * x_max, 13.0), 0.85 * height + 0.45))
    else:
        fig = ax.figure
    # the host: this machine, with its loopback and (for host-network containers) its own stack
    ax.add_patch(FancyBboxPatch((0.1, host_y - 0.25), x_max - 0.2, 0.5, boxstyle="round,pad=0.02",
                                facecolor="#fafafa", edgecolor="black"))
    ax.text(0.25, host_y, "host (this machine)" + (": host network = the host's own stack"
                                                    if host_net else ""),
            va="center", fontsize=10, fontweight="bold")
    net_y = {n["name"]: box_y - 0.9 - 0.75 * i for i, n in enumerate(nets)}
    colour = {n["name"]: network_colour(n["name"]) for n in nets}
    for n in nets:
        y = net_y[n["name"]]
        ax.plot([0.1, x_max - 0.1], [y, y], color=colour[n["name"]], linewidth=3,
                linestyle=":" if n["driver"] == "null" else "-", gid=f"network:{n['label']}")
        desc = f"{n['label']} ({n['driver']})"
        if n["subnet"]:
            desc += f"\n{n['subnet']}" + (f" gw {n['gateway']}" if n["gateway"] else "") + (
                " internal" if n["internal"] else "")
        ax.text(0.15, y + 0.08, desc, fontsize=9, color=colour[n["name"]], va="bottom")
    for x, c in zip(xs, conts):
        ax.add_patch(FancyBboxPatch((x - 1.1, box_y), 2.2, box_h, boxstyle="round,pad=0.03",
                                    facecolor=_STATE_COLOURS.get(c["state"], "white"), edgecolor="black",
                                    gid=f"container:{c['label']}"))
        ax.text(x, box_y + box_h * 0.66, c["label"], ha="center", fontsize=11, fontweight="bold")
        ax.text(x, box_y + box_h * 0.25, f"{c['image']} · {c['state']}", ha="center", fontsize=9)
        if "host" in c["networks"] or c["network_mode"] == "host":
            ax.annotate("", xy=(x, host_y - 0.27), xytext=(x, box_y + box_h),
                        arrowprops={"arrowstyle": "-", "linewidth": 3, "color": "black"})
            ax.text(x + 0.08, (host_y + box_y + box_h) / 2, "network: host\n(no own IP)", fontsize=8,
                    va="center")
        for i, p in enumerate(c["ports"]):
            cport, hostpart = p.split(" -> ")
            ax.annotate("", xy=(x - 0.5 + 0.25 * i, box_y + box_h + 0.04), xytext=(x - 0.5 + 0.25 * i, host_y - 0.27),
                        arrowprops={"arrowstyle": "->", "color": "tab:red", "linewidth": 1.5})
            ax.text(x - 0.45 + 0.25 * i, host_y - 0.4 - 0.28 * i, f"{hostpart} → {cport}", fontsize=8,
                    color="tab:red", va="top")
        drawn = [(net, ip) for net, ip in c["networks"].items() if net in net_y]
        for k, (net, ip) in enumerate(drawn):
            # a container on several networks gets one line per network, side by side
            lx = x + (k - (len(drawn) - 1) / 2) * 0.5
            y = net_y[net]
            ax.plot([lx, lx], [box_y, y], color=colour[net], linewidth=1.5)
            ax.plot([lx], [y], "o", color=colour[net])
            left_side = k < len(drawn) - 1  # labels of the left lines go left, clear of the next line
            ax.text(lx - 0.07 if left_side else lx + 0.07, y + 0.08, ip or "no address", fontsize=9,
                    color=colour[net], va="bottom", ha="right" if left_side else "left")
    if not conts:
        ax.text((left + x_max) / 2, box_y + 0.4, "(no containers in this session)", ha="center", fontsize=9,
                color="grey")
    ax.set_xlim(0, x_max)
    ax.set_ylim(min(net_y.values(), default=box_y) - 0.4, height)
    ax.set_axis_off()
    ax.set_title(title + "\n(names without the wb-<session>- prefix; red arrows: published ports)",
                 fontsize=10)
    if own:
        fig.tight_layout()
        plt.close(fig)
    return fig
