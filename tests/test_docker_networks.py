"""helpers.containers.networks against the real Docker engine."""

from __future__ import annotations

import ipaddress

import docker
import pytest

from helpers.containers import engine
from helpers.containers import networks as N
from helpers.core.session import labels, resource_name

pytestmark = pytest.mark.docker



@pytest.fixture(scope="module")
def client():
    from helpers.containers.base_images import ensure_image

    ensure_image(N.TOOLS_IMAGE, quiet=True)  # built from data/images/netcat where no registry answers
    return engine.client()


@pytest.fixture(scope="module")
def net(client):
    return client.networks.create(resource_name("t-net"), driver="bridge", labels=labels())


@pytest.fixture(scope="module")
def pair(client, net):
    return [client.containers.run(N.TOOLS_IMAGE, "sleep infinity", detach=True, name=resource_name(base),
                                  network=net.name, labels=labels()) for base in ("t-a", "t-b")]


def _ip(box, network):
    box.reload()
    return box.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def test_short_removes_the_session_prefix():
    assert N.short("wb-0123abcd-c1") == "c1" and N.short("bridge") == "bridge"


def test_netcat_conversation(client):
    talk = N.netcat_conversation(reply="pong", lines=("ping 1", "ping 2"))
    assert talk["server_received"].splitlines() == ["ping 1", "ping 2"]
    assert talk["client_received"] == "pong"
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(talk["server"])


def test_free_subnet_is_free_and_usable(client):
    first = N.free_subnet()
    backend = client.networks.create(resource_name("t-sub"), driver="bridge", internal=True, labels=labels(),
                                     ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=first)]))
    try:
        second = N.free_subnet()
        assert not ipaddress.ip_network(first).overlaps(ipaddress.ip_network(second))
    finally:
        backend.remove()
    assert ipaddress.ip_network(first).prefixlen == 24 and ipaddress.ip_network(first).is_private


def test_default_interface_and_gateway():
    iface = N.default_interface()
    assert open(f"/sys/class/net/{iface}/address").read().strip()
    gw = N.default_gateway()
    assert gw is None or ipaddress.ip_address(gw).version == 4


def test_topology_reflects_the_engine(pair, net):
    st = N.topology_state()
    names = {c["label"] for c in st["containers"]}
    assert {"t-a", "t-b"} <= names
    nets = {n["name"]: n for n in st["networks"]}
    assert net.name in nets and nets[net.name]["subnet"] and "bridge" in nets
    a = next(c for c in st["containers"] if c["label"] == "t-a")
    assert a["networks"][net.name] == _ip(pair[0], net.name)
    fig = N.topology("test")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "t-a" in texts and _ip(pair[0], net.name) in texts


def test_topology_shows_a_container_made_by_the_command_line(client):
    """The %%bash cells label their objects with the session label alone; the diagram draws them."""
    from helpers.core import session

    box = client.containers.run(N.TOOLS_IMAGE, "sleep infinity", detach=True, name=resource_name("t-cli"),
                                labels={session.SESSION_LABEL: session.SESSION_ID})
    try:
        assert "t-cli" in {c["label"] for c in N.topology_state()["containers"]}
    finally:
        box.remove(force=True)


def test_macvlan_lease_then_the_sdk_call_gives_each_container_its_own_mac(client):
    parent = N.default_interface()
    lease = N.acquire_macvlan(parent)
    assert N.acquire_macvlan(parent) is lease  # re-running the cell keeps the same lease
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=N.MACVLAN_SUBNET)])
    lan = client.networks.create(resource_name("lan-test"), driver="macvlan", options={"parent": parent}, ipam=ipam,
                                 labels=labels())
    try:
        boxes = [client.containers.run(N.TOOLS_IMAGE, "sleep infinity", detach=True, name=resource_name(base),
                                       network=lan.name, labels=labels()) for base in ("mv-a", "mv-b")]
        for b in boxes:
            b.reload()
        macs = {b.attrs["NetworkSettings"]["Networks"][lan.name]["MacAddress"] for b in boxes}
        macs.add(open(f"/sys/class/net/{parent}/address").read().strip())
        assert len(macs) == 3
        assert _ip(boxes[0], lan.name).startswith("198.51.100.")
        assert boxes[0].exec_run(["ping", "-c", "1", "-W", "1", _ip(boxes[1], lan.name)]).exit_code == 0
        with pytest.raises(docker.errors.APIError):  # one macvlan network per interface
            client.networks.create(resource_name("lan-second"), driver="macvlan", options={"parent": parent},
                                   labels=labels())
        for b in boxes:
            b.remove(force=True)
    finally:
        lan.remove()
        lease.release()
    assert not lease.held


def _net(label, driver="bridge", subnet="10.9.0.0/24"):
    full = label if label in N.PREDEFINED else f"wb-0123abcd-{label}"
    return {"name": full, "label": label, "driver": driver, "subnet": subnet, "gateway": "", "internal": False}


def _box(label, networks, ports=()):
    return {"name": f"wb-0123abcd-{label}", "label": label, "image": "netcat", "state": "running",
            "networks": networks, "ports": list(ports), "network_mode": ""}


def _line_colours(fig) -> dict[str, str]:
    from matplotlib.colors import to_hex

    return {ln.get_gid().removeprefix("network:"): to_hex(ln.get_color())
            for ln in fig.axes[0].lines if (ln.get_gid() or "").startswith("network:")}


def test_a_network_keeps_its_colour_from_one_diagram_to_the_next():
    """mynet is drawn in the same colour whether or not other networks (lan, none) are there too."""
    step3 = N.topology(state={"networks": [_net("bridge"), _net("mynet")],
                              "containers": [_box("c3", {"wb-0123abcd-mynet": "10.9.0.2"})]})
    step8 = N.topology(state={"networks": [_net("bridge"), _net("lan", "macvlan"), _net("none", "null", ""),
                                           _net("mynet")],
                              "containers": [_box("m1", {"wb-0123abcd-lan": "10.9.0.3"})]})
    first, later = _line_colours(step3), _line_colours(step8)
    assert first["mynet"] == later["mynet"] == N.network_colour("wb-feedbeef-mynet")  # in every session too
    assert first["bridge"] == later["bridge"]
    assert len(set(later.values())) == len(later)  # notebook 10's step 8 tells its networks apart


def test_a_one_container_diagram_has_no_empty_half():
    fig = N.topology("Step 1", state={"networks": [_net("bridge", subnet="172.17.0.0/16")],
                                      "containers": [_box("c1", {"bridge": "172.17.0.3"})]})
    width, height = fig.get_size_inches()
    assert width <= 7 and height <= 3.8
    ax = fig.axes[0]
    box = next(p for p in ax.patches if p.get_gid() == "container:c1")
    centre = box.get_x() + box.get_width() / 2
    lo, hi = ax.get_xlim()
    assert 0.3 < (centre - lo) / (hi - lo) < 0.75  # not pushed into one corner
