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
