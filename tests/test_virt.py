"""helpers.virtualization (connection, domains, console, networks, storage, checks, virsh, cleanup) against the real libvirt: test:///default always, qemu:///system when it answers."""

import pytest

import helpers
from helpers.core import session
from helpers.virtualization import checks, connection, console, domains, networks, storage
from helpers.virtualization import cleanup as vcleanup
from helpers.virtualization import virsh as vs

import os
import time

import libvirt
from helpers.core.errors import DaemonUnavailable, NotFound, WorkbookError


@pytest.fixture
def test_conn():
    conn = connection.connect(connection.TEST_URI)
    yield conn
    vcleanup.CLEANER.remove(session.SESSION_ID)


def system_conn():
    try:
        return connection._open(connection.SYSTEM_URI, 5)
    except WorkbookError:
        pytest.skip("qemu:///system does not answer here")


# The notebook makes its pools, volumes and networks with libvirt itself; the tests do the same.

def _pool(conn, base):
    pool_name = session.resource_name(base)
    if pool_name in conn.listStoragePools() + conn.listDefinedStoragePools():
        return conn.storagePoolLookupByName(pool_name)
    pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>{pool_name}</name><target>"
                                     f"<path>{storage.pools_root() / pool_name}</path></target></pool>")
    pool.build()
    pool.create()
    return pool


def _volume(pool, base, mib):
    return pool.createXML(f"<volume><name>{session.resource_name(base)}.qcow2</name><capacity unit='MiB'>{mib}</capacity>"
                          f"<target><format type='qcow2'/></target></volume>")


def _network_xml(net_name, mode, prefix):
    forward = "" if mode == "isolated" else f"<forward mode='{mode}'/>"
    return (f"<network><name>{net_name}</name>{forward}<ip address='{prefix}.1' netmask='255.255.255.0'>"
            f"<dhcp><range start='{prefix}.10' end='{prefix}.100'/></dhcp></ip></network>")


def _network(conn, base, mode):
    """What notebook 08's cell does: a reserved subnet, the XML, define and start, under the lease."""
    with networks.network_lease(conn):
        prefix = networks.reserve_subnet(conn, base).rsplit(".", 1)[0]
        net = conn.networkDefineXML(_network_xml(session.resource_name(base), mode, prefix))
        net.create()
    return net


def test_connect_prefers_argument_then_environment(monkeypatch):
    assert connection.choose_uri("test:///default") == ("test:///default", "argument")
    monkeypatch.setenv(connection.URI_ENV, "test:///default")
    uri, why = connection.choose_uri()
    assert uri == "test:///default" and "environment" in why


def test_connect_falls_back_to_test_driver_when_system_is_absent(monkeypatch):
    monkeypatch.delenv(connection.URI_ENV, raising=False)
    monkeypatch.setattr(connection, "SYSTEM_URI", "qemu+unix:///system?socket=/nonexistent.sock")
    uri, why = connection.choose_uri(timeout=3)
    assert uri == connection.TEST_URI and why.startswith("fallback")


@pytest.mark.parametrize("uri,fragment", [
    ("foo:///bar", "No libvirt driver understands"),
    ("qemu+unix:///system?socket=/nonexistent.sock", "Cannot connect to libvirt"),
])
def test_unavailable_uri_is_one_sentence(uri, fragment):
    with pytest.raises(DaemonUnavailable) as info:
        connection.connect(uri, timeout=5)
    text = str(info.value)
    assert fragment in text and "\n" not in text


def test_libvirt_errors_are_explained_in_one_sentence(test_conn):
    for attempt, fragment in [(lambda: test_conn.lookupByName("no-such-domain"), "no such domain"),
                              (lambda: test_conn.defineXML("<domain type='test'><name>x</name>"), "libvirt"),
                              (lambda: test_conn.defineXML("<domain><name>x</name"), "rejected the XML")]:
        with pytest.raises(libvirt.libvirtError) as info:
            attempt()
        sentence = helpers.explain(info.value)
        assert sentence and fragment in sentence and "\n" not in sentence, sentence


def test_lifecycle_on_test_driver(test_conn):
    dom = test_conn.defineXML(domains.domain_xml(test_conn, "unit"))
    name = dom.name()
    assert domains.lifecycle_state(test_conn, name) == "defined" and dom.ID() == -1
    dom.create()
    assert domains.lifecycle_state(test_conn, name) == "running"
    dom.suspend()
    assert domains.lifecycle_state(test_conn, name) == "paused"
    dom.resume()
    path = domains.save_path(name)
    dom.save(str(path))
    assert domains.lifecycle_state(test_conn, name) == "saved" and path.exists()
    test_conn.restore(str(path))
    path.unlink()
    assert domains.lifecycle_state(test_conn, name) == "running"
    dom.shutdown()
    assert domains.wait_shut_off(dom, timeout=10)
    dom.undefine()
    assert domains.lifecycle_state(test_conn, name) == "undefined"
    assert "start" in domains.allowed("defined") and "resume" in domains.allowed("paused")


def test_wait_shut_off_is_bounded(test_conn):
    dom = test_conn.defineXML(domains.domain_xml(test_conn, "stubborn"))
    dom.create()
    t0 = time.monotonic()
    assert not domains.wait_shut_off(dom, timeout=0.5)          # nobody asked it to stop
    assert time.monotonic() - t0 < 5


def test_transient_domain_and_listing(test_conn):
    dom = test_conn.createXML(domains.domain_xml(test_conn, "tr"), 0)
    assert dom.isActive() and not dom.isPersistent()
    assert dom.name() in [r["name"] for r in domains.list_domains(test_conn, "--transient")]
    with pytest.raises(WorkbookError, match="Unknown list filter"):
        domains.list_domains(test_conn, "--bogus")


def test_pools_volumes_networks_and_cleanup(test_conn):
    pool = _pool(test_conn, "upool")
    vol = _volume(pool, "uvol", 64)
    assert vol.info()[1] == 64 * 2**20
    for mode in ("nat", "route", "isolated"):
        net = _network(test_conn, f"u-{mode}", mode)
        assert networks.network_summary(net)["mode"] == mode
    left = vcleanup.CLEANER.leftovers(session.SESSION_ID)
    assert any("pool" in l for l in left) and sum("network" in l for l in left) == 3
    vcleanup.CLEANER.remove(session.SESSION_ID)
    assert not [l for l in vcleanup.CLEANER.leftovers(session.SESSION_ID) if "test:///" in l]


def _iso(ip="<ip address='10.213.251.1' netmask='255.255.255.0'/>", name=None, extra=""):
    return f"<network><name>{name or session.resource_name('iso')}</name>{extra}{ip}</network>"


def test_isolated_network_check(test_conn):
    verdict = checks.check_isolated_network(_iso(), test_conn)
    assert verdict and "libvirt runs it as an isolated network" in str(verdict)
    assert test_conn.listAllNetworks() and session.resource_name("iso") not in [n.name() for n in test_conn.listAllNetworks()]
    for xml, hint in [
        (_iso(extra="<forward mode='nat'/>"), "remove <forward"),
        (_iso(name="isolated"), "resource_name('isolated')"),
        (_iso(ip=""), "add an <ip address="),
        (_iso(ip="<ip address='10.213.251.1'/>"), "netmask"),
        ("<network", "close every tag"),
        ("<domain><name>x</name></domain>", "starts with <network>"),
    ]:
        verdict = checks.check_isolated_network(xml, test_conn)
        assert not verdict and verdict.attempted and hint in str(verdict), (xml, str(verdict))


def test_isolated_network_check_not_attempted_for_the_starter(test_conn):
    for xml, hint in [("", "write the <network> element"), ("   ", "write the <network> element"),
                      ("<network>\n  <!-- your XML here -->\n</network>", "resource_name('isolated')")]:
        verdict = checks.check_isolated_network(xml, test_conn)
        assert not verdict and not verdict.attempted and hint in str(verdict)


def test_isolated_network_check_refuses_a_subnet_in_use(test_conn):
    nat = _network(test_conn, "usednat", "nat")
    ip = networks.network_summary(nat)["address"].split("/")[0]
    verdict = checks.check_isolated_network(_iso(ip=f"<ip address='{ip}' netmask='255.255.255.0'/>"), test_conn)
    assert not verdict and f"the libvirt network {nat.name()}" in str(verdict) and "networks.reserve_subnet" in str(verdict)


def test_isolated_network_check_replaces_an_earlier_network_of_that_name(test_conn):
    test_conn.networkCreateXML(_iso())
    verdict = checks.check_isolated_network(_iso(), test_conn)
    assert verdict and "already existed" in str(verdict)


def test_reserved_subnet_is_kept_and_avoided_by_other_sessions(test_conn, monkeypatch):
    first = networks.reserve_subnet(test_conn, "iso")
    assert networks.reserve_subnet(test_conn, "iso") == first          # running the cell again keeps it
    assert checks.check_isolated_network(_iso(ip=f"<ip address='{first[:-4]}1' netmask='255.255.255.0'/>"), test_conn)
    # every session would start its search at the same subnet: the reservation makes the second one move on
    monkeypatch.setattr(networks.uuidlib, "uuid5", lambda *a: uuid.UUID(int=0))
    assert networks.free_subnet(test_conn) != first


def test_reserved_subnet_on_system_is_a_session_file_that_clean_up_removes(monkeypatch):
    system_conn().close()
    conn = connection.connect(connection.SYSTEM_URI)
    try:
        mine_ = networks.reserve_subnet(conn, "isounit")
        path = networks._reservation_path("isounit")
        assert path.read_text().strip() == mine_
        assert any(str(path) in l for l in vcleanup.CLEANER.leftovers(session.SESSION_ID))
        monkeypatch.setattr(networks.uuidlib, "uuid5", lambda *a: uuid.UUID(int=0))
        monkeypatch.setattr(session, "SESSION_ID", OTHER)           # another session, same starting point
        assert networks.reserve_subnet(conn, "isounit") != mine_
    finally:
        monkeypatch.undo()
        vcleanup.CLEANER.remove(session.SESSION_ID)
        vcleanup.CLEANER.remove(OTHER)
    assert not path.exists() and not networks._reservation_path("isounit").exists()


def test_virsh_runs_for_real_and_skips_unshared_state():
    res = vs.virsh(connection.TEST_URI, "hostname")
    assert res.returncode == 0 and res.output.strip()
    assert vs.virsh(connection.TEST_URI, "dominfo", "x", shared_state=True).skipped
    script = vs.virsh(connection.TEST_URI, "list --all; domstate test")    # several commands, one process
    assert script.returncode == 0 and "running" in script.output
    assert str(script).splitlines()[:2] == ["$ virsh -c test:///default 'list --all;", "      domstate test'"]


def test_real_guest_lifecycle_on_system():
    conn = system_conn()
    conn.close()
    conn = connection.connect(connection.SYSTEM_URI)
    dom = conn.defineXML(domains.domain_xml(conn, "unitreal"))
    try:
        seconds = console.boot_and_wait(dom, timeout=120)
        assert seconds < 120
        assert "virtio" in console.run_in_guest(dom, "ls /sys/bus/virtio/drivers")
        path = str(domains.save_path(dom.name()))
        dom.save(path)
        conn.restore(path)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        dom.shutdown()                          # graceful ACPI shutdown
        assert domains.wait_shut_off(dom, timeout=90)
        assert "WB-ACPI" in console.console_text(dom)
    finally:
        vcleanup.CLEANER.remove(session.SESSION_ID)
    assert not vcleanup.CLEANER.leftovers(session.SESSION_ID)


def test_sample_xml_files_are_accepted_by_libvirt(test_conn):
    for sample in ("network-nat", "network-routed", "network-isolated"):
        net = test_conn.networkDefineXML(domains.sample_xml(sample, f"s-{sample}"))
        assert net.name() == session.resource_name(f"s-{sample}")
    pool = test_conn.storagePoolDefineXML(domains.sample_xml("pool-dir", "s-pool"), 0)
    pool.create(0)
    pool.createXML(domains.sample_xml("volume-qcow2"), 0)
    assert "<domain" in domains.sample_xml("domain-tiny-guest", "s-dom")
    with pytest.raises(NotFound, match="no sample"):
        domains.sample_xml("nope")


def test_saved_and_back_judges_only_what_was_done_after_it_began(test_conn):
    dom = test_conn.defineXML(domains.domain_xml(test_conn, "ex1"))
    dom.create()
    image = str(domains.save_path(dom.name()))
    dom.save(image)                                            # the demonstration, before the exercise
    test_conn.restore(image)
    os.unlink(image)
    dom.shutdown()
    ex = checks.SavedAndBackExercise(dom)
    assert "defined" in repr(ex) and ex.path == image
    verdict = ex.check()
    assert not verdict and not verdict.attempted and "nothing was done" in str(verdict)
    dom.create()                                               # start alone
    verdict = checks.check_saved_and_back(ex)
    assert not verdict and "save the running domain" in str(verdict)
    again = checks.check_saved_and_back(ex)                    # nothing new: the same attempt, judged again
    assert str(again) == str(verdict)
    dom.save(ex.path)                                          # a save without a restore
    verdict = checks.check_saved_and_back(ex)
    assert not verdict and "conn.restore(ex1.path)" in str(verdict) and "a saved image of" in str(verdict)
    test_conn.restore(ex.path)                                 # restores what the previous attempt saved
    verdict = checks.check_saved_and_back(ex)
    assert not verdict and "saved before this attempt began" in str(verdict)
    time.sleep(0.01)
    dom.save(ex.path)
    dom.create()                                               # boots afresh instead of restoring
    verdict = checks.check_saved_and_back(ex)
    assert not verdict and "boots it from scratch" in str(verdict)
    time.sleep(0.01)
    dom.save(ex.path)
    test_conn.restore(ex.path)
    assert checks.check_saved_and_back(ex) and checks.check_saved_and_back(ex)     # passes, and again when re-run


def test_saved_and_back_refuses_another_domains_image_and_wrong_arguments(test_conn):
    dom = test_conn.defineXML(domains.domain_xml(test_conn, "ex1own"))
    other = test_conn.defineXML(domains.domain_xml(test_conn, "ex1other"))
    ex = checks.SavedAndBackExercise(dom)
    dom.create()
    other.create()
    other.save(ex.path)                                        # another guest's memory in ex1.path
    verdict = checks.check_saved_and_back(ex)
    assert not verdict and f"a saved image of {other.name()}" in str(verdict)
    with pytest.raises(WorkbookError, match="expects the exercise object"):
        checks.check_saved_and_back(test_conn)


def test_saved_and_back_check_for_a_removed_domain(test_conn):
    dom = test_conn.defineXML(domains.domain_xml(test_conn, "gone-guest"))
    ex = checks.SavedAndBackExercise(dom)
    dom.undefine()
    verdict = checks.check_saved_and_back(ex)
    assert not verdict and "there is no domain named" in str(verdict) and "conn.defineXML" in str(verdict)


def test_qemu_command_summary_is_readable():
    argv = ["/usr/bin/qemu-system-x86_64", "-name", "guest=wb-1-g,debug-threads=on", "-S",
            "-object", '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/x"}',
            "-machine", "pc-i440fx-7.2,usb=off", "-accel", "tcg", "-m", "128", "-smp", "1",
            "-device", '{"driver":"virtio-rng-pci","id":"rng0"}', "-device", "isa-serial,chardev=c"]
    lines = console.qemu_command_summary(argv, width=60)
    assert lines[0].startswith("/usr/bin/qemu-system-x86_64") and "18 arguments" in lines[0]
    assert "  -name guest=wb-1-g,debug-threads=on" in lines and "  -accel tcg" in lines
    assert any("-device ×2: virtio-rng-pci, isa-serial" in l for l in lines)
    assert all(len(l) <= 60 for l in lines) and not any("qom-type" in l for l in lines)


def test_qemu_process_and_bridge_state_on_system():
    system_conn().close()
    conn = connection.connect(connection.SYSTEM_URI)
    try:
        net = _network(conn, "brunit", "isolated")
        st = networks.bridge_state(networks.network_summary(net)["bridge"])
        assert st["up"] and not st["carrier"] and st["ports"] == []     # no guest yet: no carrier
        dom = conn.defineXML(domains.domain_xml(conn, "procunit", network=net.name()))
        dom.create()
        proc = console.qemu_process(dom)
        assert proc["pid"] > 0 and f"guest={dom.name()}" in " ".join(proc["argv"])
        assert networks.bridge_state(networks.network_summary(net)["bridge"])["ports"]         # its tap joined
    finally:
        vcleanup.CLEANER.remove(session.SESSION_ID)
    assert networks.bridge_state("wb-no-such-bridge") is None


def test_volume_plot_shows_allocation_bars_and_pool_plot_says_what_volumes_use(test_conn):
    from matplotlib.figure import Figure

    from helpers.virtualization import widgets as vw
    pool = _pool(test_conn, "plotpool")
    _volume(pool, "pv", 64)
    ax = vw.plot_volumes(pool, ax=Figure().add_subplot())
    assert ax.get_xscale() == "log" and all(p.get_width() > 0 for p in ax.patches)
    ax = vw.plot_pools(test_conn, ax=Figure().add_subplot())
    assert any("this pool's 1 volume(s): 64.00 MiB" in t.get_text() for t in ax.texts)


def test_table_html_is_left_aligned_and_escaped():
    from helpers.virtualization import widgets as vw
    out = vw.table_html(["command", "value"], [["virsh <x>", "line 1\nline 2"]], code_columns=(0,))
    assert "virsh &lt;x&gt;</code>" in out and "text-align:left" in out and "line 1<br>line 2" in out


# --------------------------------------------------------------------------- two sessions on one host
#
# Another session may undefine its own domain (network, pool, volume) between our listing and
# our next call on it.  _Racing hands back a listing and then removes one object at once, as
# the other session would: the helpers must list this session's objects only, and skip one
# that vanished instead of failing with "Domain not found: no domain with matching uuid".

import subprocess
import sys
import uuid

OTHER = uuid.uuid4().hex[:8]            # a made-up second session of this test


class _Racing:
    """``obj`` whose listings come back with one object removed right after (once)."""

    LISTINGS = ("listAllDomains", "listAllNetworks", "listAllStoragePools", "listVolumes")

    def __init__(self, obj, remove):
        self._obj, self._remove, self.raced = obj, remove, False

    def __getattr__(self, attr):
        value = getattr(self._obj, attr)
        if attr not in self.LISTINGS:
            return value

        def listing(*args):
            listed = value(*args)
            if not self.raced:
                self.raced = True
                self._remove()
            return listed
        return listing


def _foreign_domain(conn, base):
    return conn.defineXML(domains.domain_xml(conn, session.resource_name(base, OTHER)))


def test_a_listed_domain_that_vanishes_is_libvirts_not_found_error(test_conn):
    gone = _foreign_domain(test_conn, "gone")
    listed = [d for d in test_conn.listAllDomains(0) if d.name() == gone.name()]
    gone.undefine()
    with pytest.raises(libvirt.libvirtError) as info:
        listed[0].isActive()
    assert connection.vanished(info.value, libvirt.VIR_ERR_NO_DOMAIN) and "matching uuid" in str(info.value)


def test_domain_listing_shows_this_session_and_skips_vanished(test_conn):
    keep = test_conn.defineXML(domains.domain_xml(test_conn, "keep"))
    other = _foreign_domain(test_conn, "present")
    try:
        assert [r["name"] for r in domains.list_domains(test_conn)] == [keep.name()]      # this session's only
        everyone = [r["name"] for r in domains.list_domains(test_conn, session_only=False)]
        assert keep.name() in everyone and other.name() in everyone
        gone = _foreign_domain(test_conn, "gone")
        racing = _Racing(test_conn, gone.undefine)
        names = [r["name"] for r in domains.list_domains(racing, session_only=False)]
        assert racing.raced and keep.name() in names and gone.name() not in names
    finally:
        other.undefine()


def test_network_views_skip_a_network_removed_meanwhile(test_conn):
    from matplotlib.figure import Figure

    from helpers.virtualization import widgets as vw
    keep = _network(test_conn, "keepnet", "isolated")
    gone_name = session.resource_name("gonenet", OTHER)

    def foreign():
        return test_conn.networkDefineXML(_network_xml(gone_name, "isolated", "10.213.249"))

    gone = foreign()
    racing = _Racing(test_conn, gone.undefine)
    rows = networks.network_rows(racing, session_only=False)
    assert racing.raced and keep.name() in [r["name"] for r in rows] and gone_name not in [r["name"] for r in rows]
    gone = foreign()
    assert networks.free_subnet(_Racing(test_conn, gone.undefine)).startswith("10.213.")
    gone = foreign()
    html = vw.network_table_html(_Racing(test_conn, gone.undefine))
    assert keep.name() in html and gone_name not in html                   # this session's by default
    gone = foreign()
    vw.plot_networks(_Racing(test_conn, gone.undefine), ax=Figure().add_subplot())
    att = test_conn.defineXML(domains.domain_xml(test_conn, "att", network=keep.name()))
    att_gone = test_conn.defineXML(domains.domain_xml(test_conn, "attgone", network=keep.name()))
    foreign_dom = _foreign_domain(test_conn, "attforeign")
    try:
        assert vw._attachments(_Racing(test_conn, att_gone.undefine)) == {keep.name(): [att.name()]}
    finally:
        foreign_dom.undefine()
    assert gone_name not in [n.name() for n in test_conn.listAllNetworks()]


def test_pool_and_volume_rows_skip_what_was_removed_meanwhile(test_conn):
    pool = _pool(test_conn, "keeppool")
    other = test_conn.storagePoolDefineXML(f"<pool type='dir'><name>{session.resource_name('gonepool', OTHER)}</name>"
                                         "<target><path>/nonexistent</path></target></pool>", 0)
    other.create(0)

    def remove_other():
        other.destroy()
        other.undefine()

    racing = _Racing(test_conn, remove_other)
    names = [r["name"] for r in storage.pool_rows(racing, session_only=False)]
    assert racing.raced and pool.name() in names and other.name() not in names
    assert [r["name"] for r in storage.pool_rows(test_conn)] == [pool.name()]
    _volume(pool, "v1", 8)
    v2 = _volume(pool, "v2", 8)
    rows = storage.volume_rows(_Racing(pool, lambda: v2.delete(0)))
    assert [r["name"] for r in rows] == [session.resource_name("v1") + ".qcow2"]


def test_domain_listing_skips_vanished_on_system():
    conn = system_conn()
    conn.close()
    conn = connection.connect(connection.SYSTEM_URI)
    keep = conn.defineXML(domains.domain_xml(conn, "keepsys"))
    gone = _foreign_domain(conn, "gonesys")
    try:
        racing = _Racing(conn, gone.undefine)
        names = [r["name"] for r in domains.list_domains(racing, session_only=False)]
        assert racing.raced and keep.name() in names and gone.name() not in names
        assert [r["name"] for r in domains.list_domains(conn)] == [keep.name()]
    finally:
        vcleanup.CLEANER.remove(session.SESSION_ID)
        vcleanup.CLEANER.remove(OTHER)
    assert not vcleanup.CLEANER.leftovers(OTHER)


def _fake_runs(monkeypatch, answers):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        rc, out, err = answers[min(len(calls), len(answers)) - 1]
        return subprocess.CompletedProcess(argv, rc, out, err)
    monkeypatch.setattr(vs.subprocess, "run", run)
    return calls


RACE = ("error: Failed to list domains\nerror: Domain not found: no domain with matching uuid "
        "'9c0b1f5e-0000-4000-8000-000000000000' (wb-00000000-virshguest)\n")


def test_virsh_listing_is_run_again_once_after_a_vanished_object(monkeypatch):
    calls = _fake_runs(monkeypatch, [(1, "", RACE), (0, " Id   Name   State\n", "")])
    res = vs.virsh(connection.SYSTEM_URI, "list", "--all")
    assert len(calls) == 2 and res.returncode == 0 and res.retries == 1 and "error" not in res.output
    calls = _fake_runs(monkeypatch, [(0, " Name  State\n x  unknown\n", "error: Could not retrieve pool information\n"),
                                     (0, " Name  State\n", "")])
    assert vs.virsh(connection.SYSTEM_URI, "pool-list", "--all").retries == 1 and len(calls) == 2


def test_virsh_does_not_hide_real_errors(monkeypatch):
    calls = _fake_runs(monkeypatch, [(1, "", RACE)])
    res = vs.virsh(connection.SYSTEM_URI, "list --all")           # the race twice: shown as it is
    assert len(calls) == 2 and res.returncode == 1 and "matching uuid" in res.output
    for args, err in [(("dominfo", "nope"), "error: Domain not found: no domain with matching name 'nope'\n"),
                      (("list --all; undefine x",), RACE),       # a script is never repeated
                      (("list",), "error: failed to connect to the hypervisor\n")]:
        calls = _fake_runs(monkeypatch, [(1, "", err)])
        res = vs.virsh(connection.SYSTEM_URI, *args)
        assert len(calls) == 1 and res.returncode == 1 and res.retries == 0 and err.strip() in res.output


_MAKE_NET = """
import json, sys, time
from helpers.core import session
from helpers.virtualization import checks, connection, console, domains, networks, storage
from helpers.virtualization import cleanup as vcleanup
from helpers.virtualization import virsh as vs
conn = connection.connect(connection.SYSTEM_URI)
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))      # both start at the same moment
try:
    with networks.network_lease(conn):                           # what notebook 08's cell does
        prefix = networks.reserve_subnet(conn, "net-nat").rsplit(".", 1)[0]
        net = conn.networkDefineXML(f"<network><name>{session.resource_name('net-nat')}</name><forward mode='nat'/>"
                                    f"<ip address='{prefix}.1' netmask='255.255.255.0'/></network>")
        net.create()
    s = networks.network_summary(net)
    print(json.dumps({"bridge": s["bridge"], "address": s["address"]}), flush=True)
    time.sleep(float(sys.argv[2]))                           # keep it while the other one makes its own
finally:
    vcleanup.CLEANER.remove(session.SESSION_ID)
"""


def test_two_sessions_creating_net_nat_at_once_get_different_bridges_and_subnets():
    system_conn().close()
    sids = [uuid.uuid4().hex[:8] for _ in range(2)]
    start_at = time.time() + 6
    procs = [subprocess.Popen([sys.executable, "-c", _MAKE_NET, str(start_at), "10"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**__import__("os").environ, "WORKBOOK_SESSION": sid, "WORKBOOK_NO_SWEEP": "1",
                                   "WORKBOOK_NO_ATEXIT_CLEANUP": "1"})
             for sid in sids]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for sid in sids:
            left = vcleanup.CLEANER.leftovers(sid)
            vcleanup.CLEANER.remove(sid)
            assert not left, left
    import json
    assert all(p.returncode == 0 for p in procs), [err[-600:] for _, err in outs]
    made = [json.loads(out.strip().splitlines()[-1]) for out, err in outs]
    assert made[0]["bridge"] != made[1]["bridge"] and made[0]["address"] != made[1]["address"], made


# --------------------------------------------------------------------------- quiet cells in notebooks 07 and 08

#: Calls that end a cell without echoing a value (they return None or display by themselves).
_QUIET_CALLS = {"print", "display", "plt.show", "vw.show_lifecycle", "dis.dis", "state_file.unlink"}


def _ends_with_semicolon(source: str) -> bool:
    """IPython's rule: the last token that is not a comment or a newline is ';'."""
    import io
    import tokenize
    skip = (tokenize.ENDMARKER, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]
    return bool(tokens) and tokens[-1].string == ";"


@pytest.mark.parametrize("notebook", ["07-virtualization.ipynb", "08-libvirt.ipynb"])
def test_no_cell_echoes_a_return_value(notebook):
    """A cell that ends in a bare call shows its value (``Out: 0`` from ``conn.close()``): end it with ``;``."""
    import ast
    from pathlib import Path

    import nbformat
    nb = nbformat.read(Path(__file__).resolve().parent.parent / "notebooks" / notebook, as_version=4)
    loud = []
    for cell in nb.cells:
        if cell.cell_type != "code" or "check" in cell.metadata.get("tags", []) or cell.source.startswith("%%"):
            continue   # a check cell's last value is its Verdict: that is its display; %%bash cells are shell
        body = ast.parse(cell.source).body
        last = body[-1] if body else None
        if not isinstance(last, ast.Expr) or _ends_with_semicolon(cell.source):
            continue
        what = ast.unparse(last.value.func) if isinstance(last.value, ast.Call) else ast.unparse(last.value)
        if what not in _QUIET_CALLS and not (cell.get("id") == "f57d7fae" and what == "panel"):   # the widget itself
            loud.append(f"{cell.get('id')}: {ast.unparse(last)}")
    assert not loud, loud
