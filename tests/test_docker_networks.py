"""helpers.docker_networks against the real Docker engine."""

from __future__ import annotations

import pytest

import helpers
from helpers import containers as C
from helpers import docker_engine
from helpers import docker_networks as N
from helpers.errors import AlreadyInUse, NotFound, WorkbookError

pytestmark = pytest.mark.skipif(not docker_engine.available(), reason="no Docker daemon")


@pytest.fixture(scope="module", autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)


@pytest.fixture(scope="module")
def net():
    return N.create("t-net")


@pytest.fixture(scope="module")
def pair(net):
    a = C.run(N.TOOLS_IMAGE, ["sleep", "infinity"], name=N.name("t-a"), detach=True, network=net.name)
    b = C.run(N.TOOLS_IMAGE, ["sleep", "infinity"], name=N.name("t-b"), detach=True, network=net.name)
    return a, b


def test_drivers_and_ls():
    assert {"bridge", "host", "null"} <= set(N.drivers())
    names = {r["NAME"] for r in N.ls(session_only=True)}
    assert {"bridge", "host", "none"} <= names
    assert "DRIVER" in N.ls_table()


def test_create_reuses_and_refuses_foreign_names(net):
    assert N.create("t-net").id == net.id
    assert N.short(net.name) == "t-net"
    with pytest.raises(AlreadyInUse):
        N.create("x", full_name="bridge")
    with pytest.raises(NotFound, match="no network called"):
        N.get("no-such-network-wb")
    with pytest.raises(WorkbookError, match="predefined"):
        N.remove("bridge")


def test_default_bridge_address_and_reachability():
    web = C.run("nginx", name=N.name("t-web"), detach=True)
    ip = N.address(web, "bridge")
    assert ip.count(".") == 3 and N.settings(web)["bridge"]["Gateway"]
    helpers.errors.wait_for(lambda: N.http_from_host(ip), timeout=15, what="nginx to answer")
    assert N.http_from_host(ip).startswith("HTTP 200")
    probe = C.run(N.TOOLS_IMAGE, ["sleep", "infinity"], name=N.name("t-probe"), detach=True)
    assert "200" in N.http_from(probe, ip)
    assert N.ping(probe, ip)[0]
    assert "eth0" in N.interfaces(probe) and "default via" in N.routes(probe)
    with pytest.raises(WorkbookError, match="no address on network"):
        N.address(web, "nonexistent")


def test_name_resolution_and_isolation(pair, net):
    a, b = pair
    assert N.resolve(a, b.name) == N.address(b, net.name)
    outsider = C.run(N.TOOLS_IMAGE, ["sleep", "infinity"], name=N.name("t-out"), detach=True)
    assert N.resolve(outsider, b.name) is None          # no DNS across networks
    assert not N.ping(outsider, N.address(b, net.name))[0]  # and no packets either
    N.connect(net, outsider)
    N.connect(net, outsider)  # twice is fine
    assert set(N.addresses(outsider)) == {"bridge", net.name}
    assert N.resolve(outsider, b.name)
    N.disconnect(net, outsider)
    assert set(N.addresses(outsider)) == {"bridge"}
    with pytest.raises(WorkbookError, match="still attached"):
        N.remove(net)


def test_ports_published_and_docker_port():
    web = C.run("nginx", name=N.name("t-pub"), detach=True, ports={"80/tcp": ("127.0.0.1", None)})
    hp = N.host_port(web)
    assert N.port(web) == [f"80/tcp -> 127.0.0.1:{hp}"]
    helpers.errors.wait_for(lambda: N.http_from_host("127.0.0.1", hp), timeout=15, what="nginx")
    plain = C.run("debian", ["sleep", "30"], detach=True)
    with pytest.raises(WorkbookError, match="does not publish"):
        N.host_port(plain)


def test_netcat_conversation():
    talk = N.netcat_conversation(reply="pong", lines=("ping 1", "ping 2"))
    assert talk["server_received"].splitlines() == ["ping 1", "ping 2"]
    assert talk["client_received"] == "pong"
    assert C.state(talk["server"]) == "removed"


def test_topology_reflects_the_engine(pair, net):
    st = N.topology_state()
    names = {c["label"] for c in st["containers"]}
    assert {"t-a", "t-b"} <= names
    nets = {n["name"]: n for n in st["networks"]}
    assert net.name in nets and nets[net.name]["subnet"] and "bridge" in nets
    a = next(c for c in st["containers"] if c["label"] == "t-a")
    assert a["networks"][net.name] == N.address(pair[0], net.name)
    fig = N.topology("test")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "t-a" in texts and N.address(pair[0], net.name) in texts


def test_macvlan_gives_each_container_its_own_mac():
    lan = N.create_macvlan("lan-test")
    assert N.create_macvlan("lan-test").id == lan.id  # re-running reuses it
    a = C.run(N.TOOLS_IMAGE, ["sleep", "infinity"], name=N.name("mv-a"), detach=True, network=lan.name)
    b = C.run(N.TOOLS_IMAGE, ["sleep", "infinity"], name=N.name("mv-b"), detach=True, network=lan.name)
    parent = lan.attrs["Options"]["parent"]
    macs = {N.mac_address(a), N.mac_address(b), N.host_mac_address(parent)}
    assert len(macs) == 3
    assert N.address(a, lan.name).startswith("198.51.100.")
    assert N.ping(a, N.address(b, lan.name))[0]
    with pytest.raises(helpers.WorkbookError, match="one macvlan network per interface"):
        N.create_macvlan("lan-second")


def test_host_mac_of_unknown_interface_is_one_sentence():
    with pytest.raises(helpers.WorkbookError, match="no network interface"):
        N.host_mac_address("nosuch0")


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
