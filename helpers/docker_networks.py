"""Docker networks on the real engine, and a topology diagram drawn from its state.

Public API (stable; other Docker lessons import it):

* :func:`drivers`, :func:`ls` / :func:`ls_table` (``docker network ls``).
* :func:`name`, :func:`create` (create or reuse, labelled), :func:`get`, :func:`remove`,
  :func:`connect`, :func:`disconnect`.
* What a container sees: :func:`addresses`, :func:`address`, :func:`settings`
  (``NetworkSettings.Networks`` of ``docker inspect``), :func:`interfaces`,
  :func:`routes`, :func:`resolve`, :func:`ping`, :func:`http_from`.
* From the host: :func:`http_from_host`; published ports: :func:`port` (``docker port``).
* :func:`netcat_conversation`: two containers talk through netcat, without a terminal.
* :func:`default_interface`, :func:`create_macvlan`, :func:`mac_address`: a macvlan network on
  the host's own LAN interface, and the MAC addresses that tell its containers apart.
* :func:`topology_state` and :func:`topology`: networks, containers, addresses and
  published ports of this session, drawn with matplotlib.

Names made here are ``wb-<session>-<base>`` so that kernels never collide;
diagrams show them without that prefix.
"""

from __future__ import annotations

import re
import time
from typing import Sequence

from . import containers, docker_engine, leases, session
from .errors import AlreadyInUse, NotFound, WorkbookError, wait_for

#: Networks every Docker engine has; they are never removed by the workbook.
PREDEFINED = ("bridge", "host", "none")
#: The small image with netcat, ping and ip (data/images/netcat).
TOOLS_IMAGE = "netcat"


def name(base: str) -> str:
    """A network (or container) name for this session: ``wb-<session>-<base>``."""
    return session.resource_name(base)


def short(full: str) -> str:
    """``wb-1a2b3c4d-c1`` -> ``c1`` (the session prefix removed, for display)."""
    return re.sub(r"^wb-[0-9a-f]{8}-", "", full)


def drivers() -> list[str]:
    """The network drivers this engine offers (``docker info``, Plugins > Network)."""
    info = containers._call("Reading docker info", docker_engine.client().info)
    return list((info.get("Plugins") or {}).get("Network") or [])


def ls(*, session_only: bool = False) -> list[dict]:
    """``docker network ls`` as rows; ``session_only`` adds the predefined networks to this
    session's own (the other kernels' networks are left out)."""
    cli = docker_engine.client()
    nets = containers._call("Listing networks", cli.networks.list)
    rows = []
    for n in sorted(nets, key=lambda n: n.name):
        labels = n.attrs.get("Labels") or {}
        if session_only and n.name not in PREDEFINED and labels.get(session.SESSION_LABEL) != session.SESSION_ID:
            continue
        rows.append({"NETWORK ID": n.short_id[:12], "NAME": n.name, "DRIVER": n.attrs.get("Driver"),
                     "SCOPE": n.attrs.get("Scope")})
    return rows


def ls_table(*, session_only: bool = True) -> str:
    """:func:`ls` as the CLI's text table."""
    return containers.table(ls(session_only=session_only), ["NETWORK ID", "NAME", "DRIVER", "SCOPE"])


def get(ref):
    """The network with this name or id (or the object, refreshed)."""
    import docker.errors

    try:
        return docker_engine.client().networks.get(getattr(ref, "id", None) or str(ref))
    except docker.errors.NotFound:
        raise NotFound(f"There is no network called {getattr(ref, 'name', ref)!r}: list them with "
                       f"docker_networks.ls_table() (docker network ls).") from None
    except docker.errors.APIError as exc:
        raise containers.explain(exc, f"Looking up network {ref}") from None


def _owned(net) -> bool:
    return (net.attrs.get("Labels") or {}).get(session.SESSION_LABEL) == session.SESSION_ID


def create(base: str, driver: str = "bridge", *, reuse: bool = True, full_name: str | None = None, **kwargs):
    """``docker network create [-d DRIVER] NAME``, labelled for the session.

    The name is ``wb-<session>-<base>`` unless ``full_name`` is given.  A
    network of this session with that name is reused; one of somebody else
    is an :class:`AlreadyInUse` sentence.  ``kwargs`` go to ``networks.create``
    (``internal``, ``ipam``, ``options``...).
    """
    import docker.errors

    net_name = full_name or name(base)
    cli = docker_engine.client()
    existing = [n for n in cli.networks.list(names=[net_name]) if n.name == net_name]
    if existing:
        net = get(existing[0].id)
        if reuse and _owned(net):
            return net
        raise AlreadyInUse(f"Creating network {net_name!r}: a network with that name already exists; "
                           f"choose another name or remove it first (docker network rm).")
    kwargs["labels"] = {**docker_engine.labels(), **(kwargs.get("labels") or {})}
    try:
        net = cli.networks.create(net_name, driver=driver, check_duplicate=True, **kwargs)
    except docker.errors.APIError as exc:
        raise containers.explain(exc, f"Creating network {net_name}") from None
    return get(net.id)


def remove(ref) -> str:
    """``docker network rm``: remove a network (its containers must be gone or disconnected)."""
    net = get(ref)
    if net.name in PREDEFINED:
        raise WorkbookError(f"The {net.name} network is predefined by Docker and cannot be removed.")
    containers._call(f"Removing network {net.name}", net.remove)
    return net.name


def connect(network, container, *, aliases: Sequence[str] | None = None):
    """``docker network connect NETWORK CONTAINER``: a running container joins one more network."""
    import docker.errors

    net, c = get(network), containers.get(container)
    if net.name in (c.attrs["NetworkSettings"].get("Networks") or {}):
        return containers.get(c)  # already there: re-running the cell changes nothing
    try:
        net.connect(c, aliases=list(aliases) if aliases else None)
    except docker.errors.APIError as exc:
        raise containers.explain(exc, f"Connecting {c.name} to {net.name}") from None
    return containers.get(c)


def disconnect(network, container, *, force: bool = False):
    """``docker network disconnect NETWORK CONTAINER``."""
    import docker.errors

    net, c = get(network), containers.get(container)
    if net.name not in (c.attrs["NetworkSettings"].get("Networks") or {}):
        return containers.get(c)
    try:
        net.disconnect(c, force=force)
    except docker.errors.APIError as exc:
        raise containers.explain(exc, f"Disconnecting {c.name} from {net.name}") from None
    return containers.get(c)


# --- what a container sees ----------------------------------------------------------

def settings(container) -> dict:
    """``docker inspect``'s NetworkSettings > Networks, with the fields the chapter shows."""
    c = containers.get(container)
    keep = ("NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress", "Aliases")
    out = {}
    for net, data in (c.attrs["NetworkSettings"].get("Networks") or {}).items():
        out[net] = {k: (data.get(k)[:12] if k in ("NetworkID", "EndpointID") and data.get(k) else data.get(k))
                    for k in keep}
    return out


def addresses(container) -> dict[str, str]:
    """``{network name: IPv4 address}`` of a container (empty addresses for host/none)."""
    c = containers.get(container)
    return {net: d.get("IPAddress") or "" for net, d in (c.attrs["NetworkSettings"].get("Networks") or {}).items()}


def address(container, network: str | None = None) -> str:
    """The container's address on ``network`` (default: its only or first network)."""
    addrs = addresses(container)
    if network is None:
        network = next(iter(addrs), None)
    elif network not in addrs:
        # accept the short name of a session network
        network = next((n for n in addrs if short(n) == network), network)
    ip = addrs.get(network or "")
    if not ip:
        raise WorkbookError(f"Container {containers.get(container).name} has no address on network "
                            f"{network!r}; it is on: {', '.join(addrs) or 'no network'}.")
    return ip


def interfaces(container) -> str:
    """``ip -brief addr`` inside the container (or the interface names when ``ip`` is missing)."""
    res = containers.execute(container, ["sh", "-c", "ip -brief addr 2>/dev/null || ls /sys/class/net"])
    return res.output.rstrip()


def routes(container) -> str:
    """``ip route`` inside the container: where its packets go."""
    return containers.execute(container, ["sh", "-c", "ip route 2>/dev/null || cat /proc/net/route"]).output.rstrip()


def resolve(container, host: str) -> str | None:
    """The address ``host`` resolves to inside ``container`` (Docker's DNS), or None."""
    res = containers.execute(container, ["getent", "hosts", host])
    return res.output.split()[0] if res.exit_code == 0 and res.output.strip() else None


def ping(container, target: str, *, count: int = 1, timeout: int = 1) -> tuple[bool, str]:
    """``ping -c COUNT TARGET`` inside ``container`` (needs the netcat tools image): (ok, output)."""
    res = containers.execute(container, ["ping", "-c", str(count), "-W", str(timeout), target])
    if res.exit_code == 126 or "executable file not found" in res.output:
        raise WorkbookError(f"Container {containers.get(container).name} has no ping; start it from the "
                            f"{TOOLS_IMAGE!r} image, which has ping, nc and ip.")
    return res.exit_code == 0, res.output.rstrip()


def http_from(container, host: str, port: int = 80, timeout: int = 2) -> str:
    """The status line of ``GET /`` sent from inside ``container`` with netcat ('' if unreachable)."""
    script = 'printf "GET / HTTP/1.0\\r\\nHost: $H\\r\\n\\r\\n" | nc -w "$T" "$H" "$P" | head -1'
    res = containers.execute(container, ["sh", "-c", script],
                             environment={"H": host, "P": str(port), "T": str(timeout)})
    return res.output.strip()


def http_from_host(host: str, port: int = 80, timeout: float = 2) -> str:
    """The status line of ``GET /`` sent from this machine (the host) ('' if unreachable)."""
    import requests

    try:
        r = requests.get(f"http://{host}:{port}/", timeout=timeout)
    except requests.RequestException:
        return ""
    return f"HTTP {r.status_code} {r.reason}"


def port(container) -> list[str]:
    """``docker port CONTAINER``: ``80/tcp -> 127.0.0.1:8080`` for each published port."""
    return containers.port_lines(containers.get(container))


def host_port(container, container_port: str = "80/tcp") -> int:
    """The host port published for ``container_port`` (what ``-P`` chose, say)."""
    c = containers.get(container)
    binds = (c.attrs["NetworkSettings"].get("Ports") or {}).get(container_port) or []
    if not binds:
        raise WorkbookError(f"Container {c.name} does not publish {container_port}; start it with "
                            f"-p HOST:{container_port.split('/')[0]} (ports=...) or -P.")
    return int(binds[0]["HostPort"])


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
    server_name, client_name = name("nc-server"), name("nc-client")
    for old in (server_name, client_name):
        if containers.state(old) != "removed":
            containers.remove(old, force=True)
    kw = {"network": network} if network else {}
    server = containers.run(TOOLS_IMAGE, ["sh", "-c", 'echo "$REPLY" | nc -l -p "$PORT"'], name=server_name,
                            detach=True, environment={"REPLY": reply, "PORT": str(port)}, **kw)
    wait_for(lambda: f":{port}" in containers.execute(server, ["ss", "-ltn"]).output, timeout=timeout,
             what="the netcat server to listen")
    ip = address(server, network)
    client_out = containers.run_output(
        TOOLS_IMAGE, ["sh", "-c", 'printf "%s\\n" "$LINES" | nc -N -w 3 "$SERVER" "$PORT"'], name=client_name,
        environment={"LINES": "\n".join(lines), "SERVER": ip, "PORT": str(port)}, **kw)
    server.wait(timeout=timeout)
    received = containers.logs(server)
    containers.remove(server, force=True)
    return {"server": server_name, "server_ip": ip, "port": port, "server_received": received.strip(),
            "client_received": client_out.strip()}


# --- the topology diagram -------------------------------------------------------------

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


#: A documentation-only range (RFC 5737, TEST-NET-2): never routed, so it clashes with nothing real.
MACVLAN_SUBNET = "198.51.100.0/24"


def macvlan_lease(parent: str) -> str:
    """The lease name of the one macvlan network Docker allows on host interface ``parent``."""
    return f"docker-macvlan-{parent}"


def create_macvlan(base: str = "lan", *, parent: str | None = None, subnet: str = MACVLAN_SUBNET,
                   wait: float = 300):
    """``docker network create -d macvlan --subnet SUBNET -o parent=IFACE NAME``: a network whose
    containers get their own MAC address on the host's interface ``parent`` (default: the one with
    the default route).

    Docker allows one macvlan network per parent interface, so it is made under the machine-wide
    lease :func:`macvlan_lease`: while another session's notebook holds it, this waits (saying
    which session, for ``wait`` seconds at most, then :class:`helpers.leases.LeaseBusy`).  Give it
    back with :func:`remove_macvlan` as soon as the lesson has shown it."""
    import docker.types

    parent = parent or default_interface()
    lease = leases.acquire(macvlan_lease(parent), wait=wait,
                           what=f"the macvlan network on {parent} (Docker allows one per interface)")
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    try:
        return create(base, driver="macvlan", options={"parent": parent}, ipam=ipam)
    except WorkbookError as exc:
        lease.release()
        if "already using parent" in str(exc) or "overlaps" in str(exc):
            raise AlreadyInUse(f"A network that is not this workbook's already uses {parent} or the subnet "
                               f"{subnet} (Docker allows one macvlan network per interface): remove it "
                               f"(see docker network ls) and run this again.") from None
        raise


def remove_macvlan(network) -> str:
    """``docker rm -f`` the containers on a macvlan network, ``docker network rm`` it, and give its
    lease back (another notebook may be waiting for the interface).  Returns the commands, in words."""
    net = get(network)
    attached = [containers.get(cid) for cid in (net.attrs.get("Containers") or {})]
    for c in attached:
        containers.remove(c, force=True)
    remove(net)
    leases.release(macvlan_lease(net.attrs["Options"]["parent"]))
    names = " ".join(short(c.name) for c in attached)
    return (f"docker rm -f {names}; " if names else "") + f"docker network rm {short(net.name)}"


def mac_address(container, interface: str = "eth0") -> str:
    """The MAC address of ``interface`` inside ``container``, read with ``ip -brief link``."""
    for line in containers.execute(container, ["ip", "-brief", "link"]).output.splitlines():
        fields = line.split()
        if fields and fields[0].split("@")[0] == interface:
            return fields[2]
    raise NotFound(f"{short(containers.get(container).name)} has no interface {interface}.")


def host_mac_address(interface: str) -> str:
    """The host's own MAC address of ``interface`` (from /sys/class/net)."""
    try:
        with open(f"/sys/class/net/{interface}/address") as f:
            return f.read().strip()
    except OSError:
        raise NotFound(f"This host has no network interface {interface}.") from None


def topology_state(*, session_only: bool = True, always: Sequence[str] = ("bridge",)) -> dict:
    """The engine's real state for the diagram: this session's containers and the networks
    they (or this session) use, with addresses and published ports."""
    cli = docker_engine.client()
    flt = docker_engine.session_filter() if session_only else None
    conts = cli.containers.list(all=True, filters=flt, ignore_removed=True)
    nets = {n.name: n for n in cli.networks.list()}
    used = set(always)
    items = []
    for c in sorted(conts, key=lambda c: c.attrs.get("Created", "")):
        ns = c.attrs["NetworkSettings"]
        mode = c.attrs["HostConfig"].get("NetworkMode", "")
        cnets = {net: (d.get("IPAddress") or "") for net, d in (ns.get("Networks") or {}).items()}
        used |= set(cnets)
        items.append({"name": c.name, "label": short(c.name), "image": containers._image_name(c),
                      "state": c.status, "networks": cnets, "ports": containers.port_lines(c),
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
    import zlib

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
