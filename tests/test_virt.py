"""helpers.virt against the real libvirt: test:///default always, qemu:///system when it answers."""

import pytest

import helpers
from helpers import session, virt
from helpers.errors import DaemonUnavailable, NotFound, WorkbookError


@pytest.fixture
def test_conn():
    conn = virt.connect(virt.TEST_URI)
    yield conn
    virt.CLEANER.remove(session.SESSION_ID)


def system_conn():
    try:
        return virt.open_connection(virt.SYSTEM_URI, timeout=5)
    except WorkbookError:
        pytest.skip("qemu:///system does not answer here")


def test_connect_prefers_argument_then_environment(monkeypatch):
    assert virt.choose_uri("test:///default") == ("test:///default", "argument")
    monkeypatch.setenv(virt.URI_ENV, "test:///default")
    uri, why = virt.choose_uri()
    assert uri == "test:///default" and "environment" in why


def test_connect_falls_back_to_test_driver_when_system_is_absent(monkeypatch):
    monkeypatch.delenv(virt.URI_ENV, raising=False)
    monkeypatch.setattr(virt, "SYSTEM_URI", "qemu+unix:///system?socket=/nonexistent.sock")
    uri, why = virt.choose_uri(timeout=3)
    assert uri == virt.TEST_URI and why.startswith("fallback")


@pytest.mark.parametrize("uri,fragment", [
    ("foo:///bar", "No libvirt driver understands"),
    ("qemu+unix:///system?socket=/nonexistent.sock", "Cannot connect to libvirt"),
])
def test_unavailable_uri_is_one_sentence(uri, fragment):
    with pytest.raises(DaemonUnavailable) as info:
        virt.open_connection(uri, timeout=5)
    text = str(info.value)
    assert fragment in text and "\n" not in text


def test_unknown_domain_and_malformed_xml(test_conn):
    with pytest.raises(NotFound, match="No domain matches"):
        virt.lookup(test_conn, "no-such-domain")
    with pytest.raises(virt.XMLError, match="not well-formed"):
        virt.define(test_conn, "<domain type='test'><name>x</name>")
    with pytest.raises(virt.XMLError, match="rejected the XML"):
        virt.define(test_conn, f"<domain type='test'><name>{virt.name('noos')}</name></domain>")


def test_lifecycle_on_test_driver(test_conn):
    dom = virt.define(test_conn, virt.domain_xml(test_conn, "unit"))
    name = dom.name()
    assert virt.lifecycle_state(test_conn, name) == "defined" and dom.ID() == -1
    virt.start(dom)
    assert virt.lifecycle_state(test_conn, name) == "running"
    virt.suspend(dom)
    assert virt.lifecycle_state(test_conn, name) == "paused"
    with pytest.raises(WorkbookError, match="while it is paused"):
        virt.suspend(dom)
    virt.resume(dom)
    path = virt.save(dom)
    assert virt.lifecycle_state(test_conn, name) == "saved" and path.exists()
    virt.restore(test_conn, path)
    assert virt.lifecycle_state(test_conn, name) == "running" and not path.exists()
    assert virt.check_saved_and_back(test_conn, name)
    virt.shutdown(dom)
    virt.undefine(dom)
    assert virt.lifecycle_state(test_conn, name) == "undefined"
    assert not virt.check_saved_and_back(test_conn, name)      # gone: one line naming the domain
    assert "start" in virt.allowed("defined") and "resume" in virt.allowed("paused")


def test_transient_domain_rerun_and_listing(test_conn):
    xml = virt.domain_xml(test_conn, "tr")
    virt.create_transient(test_conn, xml)
    dom = virt.create_transient(test_conn, xml)       # re-running starts afresh
    assert dom.isActive() and not dom.isPersistent()
    assert dom.name() in [r["name"] for r in virt.list_domains(test_conn, "--transient")]
    with pytest.raises(WorkbookError, match="Unknown list filter"):
        virt.list_domains(test_conn, "--bogus")


def test_pools_volumes_networks_and_cleanup(test_conn):
    pool = virt.pool(test_conn, "upool")
    assert virt.pool(test_conn, "upool").name() == pool.name()      # reuse
    vol = virt.volume(pool, "uvol", 64)
    assert vol.info()[1] == 64 * 2**20
    for mode in ("nat", "route", "isolated"):
        net = virt.network(test_conn, f"u-{mode}", mode)
        assert virt.network_summary(net)["mode"] == mode
    left = virt.CLEANER.leftovers(session.SESSION_ID)
    assert any("pool" in l for l in left) and sum("network" in l for l in left) == 3
    virt.CLEANER.remove(session.SESSION_ID)
    assert not [l for l in virt.CLEANER.leftovers(session.SESSION_ID) if "test:///" in l]


def test_isolated_network_check(test_conn, capsys):
    good = f"<network><name>{virt.name('iso')}</name><ip address='10.213.251.1' netmask='255.255.255.0'/></network>"
    assert virt.check_isolated_network(good, test_conn)
    bad = f"<network><name>{virt.name('iso')}</name><forward mode='nat'/><ip address='10.213.251.1' netmask='255.255.255.0'/></network>"
    assert not virt.check_isolated_network(bad, test_conn)
    assert not virt.check_isolated_network("<network", test_conn)
    assert "✘" in capsys.readouterr().out


def test_network_xml_rejects_unknown_mode():
    with pytest.raises(WorkbookError, match="Unknown network mode"):
        virt.network_xml("x", "bridge-ish", "10.0.0.0/24")


def test_virsh_runs_for_real_and_skips_unshared_state():
    res = virt.virsh(virt.TEST_URI, "hostname")
    assert res.returncode == 0 and res.output.strip()
    assert virt.virsh(virt.TEST_URI, "dominfo", "x", shared_state=True).skipped
    script = virt.virsh(virt.TEST_URI, "list --all; domstate test")    # several commands, one process
    assert script.returncode == 0 and "running" in script.output
    assert str(script).splitlines()[:2] == ["$ virsh -c test:///default 'list --all;", "      domstate test'"]


def test_real_guest_lifecycle_on_system():
    conn = system_conn()
    conn.close()
    conn = virt.connect(virt.SYSTEM_URI)
    dom = virt.define(conn, virt.domain_xml(conn, "unitreal"))
    try:
        seconds = virt.boot_and_wait(dom, timeout=120)
        assert seconds < 120
        assert "virtio" in virt.run_in_guest(dom, "ls /sys/bus/virtio/drivers")
        path = virt.save(dom)
        virt.restore(conn, path)
        assert virt.state_name(dom) == "running"
        virt.shutdown(dom, timeout=90)          # graceful ACPI shutdown
        assert "WB-ACPI" in virt.console_text(dom)
    finally:
        virt.CLEANER.remove(session.SESSION_ID)
    assert not virt.CLEANER.leftovers(session.SESSION_ID)


def test_sample_xml_files_are_accepted_by_libvirt(test_conn):
    for sample in ("network-nat", "network-routed", "network-isolated"):
        net = test_conn.networkDefineXML(virt.sample_xml(sample, f"s-{sample}"))
        assert net.name() == virt.name(f"s-{sample}")
    pool = test_conn.storagePoolDefineXML(virt.sample_xml("pool-dir", "s-pool"), 0)
    pool.create(0)
    pool.createXML(virt.sample_xml("volume-qcow2"), 0)
    assert "<domain" in virt.sample_xml("domain-tiny-guest", "s-dom")
    with pytest.raises(NotFound, match="no sample"):
        virt.sample_xml("nope")


def test_saved_and_back_check_for_unknown_domain(test_conn, capsys):
    assert not virt.check_saved_and_back(test_conn, "no-such-guest")
    out = capsys.readouterr().out
    assert "there is no domain named 'no-such-guest'" in out and out.count("✘") == 1


def test_table_html_is_left_aligned_and_escaped():
    from helpers.widgets import virt_widgets as vw
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
import time
import uuid

import libvirt

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
    return conn.defineXML(virt.domain_xml(conn, session.resource_name(base, OTHER)))


def test_a_listed_domain_that_vanishes_is_libvirts_not_found_error(test_conn):
    gone = _foreign_domain(test_conn, "gone")
    listed = [d for d in test_conn.listAllDomains(0) if d.name() == gone.name()]
    gone.undefine()
    with pytest.raises(libvirt.libvirtError) as info:
        listed[0].isActive()
    assert virt.vanished(info.value, libvirt.VIR_ERR_NO_DOMAIN) and "matching uuid" in str(info.value)


def test_domain_listing_shows_this_session_and_skips_vanished(test_conn):
    keep = virt.define(test_conn, virt.domain_xml(test_conn, "keep"))
    other = _foreign_domain(test_conn, "present")
    try:
        assert [r["name"] for r in virt.list_domains(test_conn)] == [keep.name()]      # this session's only
        everyone = [r["name"] for r in virt.list_domains(test_conn, session_only=False)]
        assert keep.name() in everyone and other.name() in everyone
        gone = _foreign_domain(test_conn, "gone")
        racing = _Racing(test_conn, gone.undefine)
        names = [r["name"] for r in virt.list_domains(racing, session_only=False)]
        assert racing.raced and keep.name() in names and gone.name() not in names
    finally:
        other.undefine()


def test_network_views_skip_a_network_removed_meanwhile(test_conn):
    from matplotlib.figure import Figure

    from helpers.widgets import virt_widgets as vw
    keep = virt.network(test_conn, "keepnet", "isolated")
    gone_name = session.resource_name("gonenet", OTHER)

    def foreign():
        return test_conn.networkDefineXML(virt.network_xml(gone_name, "isolated", "10.213.249.0/24"))

    gone = foreign()
    racing = _Racing(test_conn, gone.undefine)
    rows = virt.network_rows(racing, session_only=False)
    assert racing.raced and keep.name() in [r["name"] for r in rows] and gone_name not in [r["name"] for r in rows]
    gone = foreign()
    assert virt.free_subnet(_Racing(test_conn, gone.undefine)).startswith("10.213.")
    gone = foreign()
    html = vw.network_table_html(_Racing(test_conn, gone.undefine))
    assert keep.name() in html and gone_name not in html                   # this session's by default
    gone = foreign()
    vw.plot_networks(_Racing(test_conn, gone.undefine), ax=Figure().add_subplot())
    att = virt.define(test_conn, virt.domain_xml(test_conn, "att", network=keep.name()))
    att_gone = virt.define(test_conn, virt.domain_xml(test_conn, "attgone", network=keep.name()))
    foreign_dom = _foreign_domain(test_conn, "attforeign")
    try:
        assert vw._attachments(_Racing(test_conn, att_gone.undefine)) == {keep.name(): [att.name()]}
    finally:
        foreign_dom.undefine()
    assert gone_name not in [n.name() for n in test_conn.listAllNetworks()]


def test_pool_and_volume_rows_skip_what_was_removed_meanwhile(test_conn):
    pool = virt.pool(test_conn, "keeppool")
    other = test_conn.storagePoolDefineXML(virt.pool_xml(session.resource_name("gonepool", OTHER), "/nonexistent"), 0)
    other.create(0)

    def remove_other():
        other.destroy()
        other.undefine()

    racing = _Racing(test_conn, remove_other)
    names = [r["name"] for r in virt.pool_rows(racing, session_only=False)]
    assert racing.raced and pool.name() in names and other.name() not in names
    assert [r["name"] for r in virt.pool_rows(test_conn)] == [pool.name()]
    virt.volume(pool, "v1", 8)
    v2 = virt.volume(pool, "v2", 8)
    rows = virt.volume_rows(_Racing(pool, lambda: v2.delete(0)))
    assert [r["name"] for r in rows] == [virt.name("v1") + ".qcow2"]


def test_domain_listing_skips_vanished_on_system():
    conn = system_conn()
    conn.close()
    conn = virt.connect(virt.SYSTEM_URI)
    keep = virt.define(conn, virt.domain_xml(conn, "keepsys"))
    gone = _foreign_domain(conn, "gonesys")
    try:
        racing = _Racing(conn, gone.undefine)
        names = [r["name"] for r in virt.list_domains(racing, session_only=False)]
        assert racing.raced and keep.name() in names and gone.name() not in names
        assert [r["name"] for r in virt.list_domains(conn)] == [keep.name()]
    finally:
        virt.CLEANER.remove(session.SESSION_ID)
        virt.CLEANER.remove(OTHER)
    assert not virt.CLEANER.leftovers(OTHER)


def _fake_runs(monkeypatch, answers):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        rc, out, err = answers[min(len(calls), len(answers)) - 1]
        return subprocess.CompletedProcess(argv, rc, out, err)
    monkeypatch.setattr(virt.subprocess, "run", run)
    return calls


RACE = ("error: Failed to list domains\nerror: Domain not found: no domain with matching uuid "
        "'9c0b1f5e-0000-4000-8000-000000000000' (wb-00000000-virshguest)\n")


def test_virsh_listing_is_run_again_once_after_a_vanished_object(monkeypatch):
    calls = _fake_runs(monkeypatch, [(1, "", RACE), (0, " Id   Name   State\n", "")])
    res = virt.virsh(virt.SYSTEM_URI, "list", "--all")
    assert len(calls) == 2 and res.returncode == 0 and res.retries == 1 and "error" not in res.output
    calls = _fake_runs(monkeypatch, [(0, " Name  State\n x  unknown\n", "error: Could not retrieve pool information\n"),
                                     (0, " Name  State\n", "")])
    assert virt.virsh(virt.SYSTEM_URI, "pool-list", "--all").retries == 1 and len(calls) == 2


def test_virsh_does_not_hide_real_errors(monkeypatch):
    calls = _fake_runs(monkeypatch, [(1, "", RACE)])
    res = virt.virsh(virt.SYSTEM_URI, "list --all")           # the race twice: shown as it is
    assert len(calls) == 2 and res.returncode == 1 and "matching uuid" in res.output
    for args, err in [(("dominfo", "nope"), "error: Domain not found: no domain with matching name 'nope'\n"),
                      (("list --all; undefine x",), RACE),       # a script is never repeated
                      (("list",), "error: failed to connect to the hypervisor\n")]:
        calls = _fake_runs(monkeypatch, [(1, "", err)])
        res = virt.virsh(virt.SYSTEM_URI, *args)
        assert len(calls) == 1 and res.returncode == 1 and res.retries == 0 and err.strip() in res.output


_MAKE_NET = """
import json, sys, time
from helpers import session, virt
conn = virt.connect(virt.SYSTEM_URI)
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))      # both start at the same moment
try:
    s = virt.network_summary(virt.network(conn, "net-nat", "nat"))
    print(json.dumps({"bridge": s["bridge"], "address": s["address"]}), flush=True)
    time.sleep(float(sys.argv[2]))                           # keep it while the other one makes its own
finally:
    virt.CLEANER.remove(session.SESSION_ID)
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
            left = virt.CLEANER.leftovers(sid)
            virt.CLEANER.remove(sid)
            assert not left, left
    import json
    assert all(p.returncode == 0 for p in procs), [err[-600:] for _, err in outs]
    made = [json.loads(out.strip().splitlines()[-1]) for out, err in outs]
    assert made[0]["bridge"] != made[1]["bridge"] and made[0]["address"] != made[1]["address"], made
