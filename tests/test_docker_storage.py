"""docker_storage against the real Docker engine."""

import pytest

import helpers
from helpers import docker_engine, docker_storage as ds, session
from helpers.errors import AlreadyInUse, NotFound, WorkbookError

pytestmark = pytest.mark.skipif(not docker_engine.available(), reason="no Docker daemon")


@pytest.fixture(autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def test_volume_is_labelled_and_reused():
    name = session.resource_name("t-vol")
    v1 = ds.create_volume(name)
    v2 = ds.create_volume(name)
    assert v1.id == v2.id
    assert v1.attrs["Labels"][session.SESSION_LABEL] == session.SESSION_ID
    assert any(r["name"] == name for r in ds.list_volumes())


def test_foreign_volume_name_is_refused():
    cli = docker_engine.client()
    foreign = cli.volumes.create(name=session.resource_name("foreign"))
    try:
        with pytest.raises(AlreadyInUse):
            ds.create_volume(foreign.name)
        with pytest.raises(WorkbookError):
            ds.remove_volume(foreign.name)
    finally:
        foreign.remove(force=True)


def test_data_in_volume_survive_and_read_only_refuses_writes():
    name = session.resource_name("t-data")
    ds.create_volume(name)
    spec = {name: {"bind": "/v", "mode": "rw"}}
    ds.sh("echo hello > /v/f.txt", volumes=spec)
    assert ds.sh("cat /v/f.txt", volumes=spec).strip() == "hello"
    assert ds.host_listing(name) == ["f.txt"]
    with pytest.raises(WorkbookError, match="Read-only"):
        ds.sh("echo x > /v/g.txt", volumes={name: {"bind": "/v", "mode": "ro"}})


def test_missing_volume_is_one_sentence():
    with pytest.raises(NotFound):
        ds.get_volume("no-such-volume-" + session.SESSION_ID)
    assert ds.remove_volume("no-such-volume-" + session.SESSION_ID) is False


def test_volume_in_use_cannot_be_removed():
    name = session.resource_name("busy")
    ds.create_volume(name)
    ds.sh("true", name=session.resource_name("holder"), keep=True, volumes={name: {"bind": "/v", "mode": "rw"}})
    with pytest.raises(AlreadyInUse):
        ds.remove_volume(name)


def test_anonymous_volume_is_labelled_and_pruned_only_for_this_session():
    cname = session.resource_name("anon")
    ds.sh("echo x > /data/x", name=cname, keep=True, mounts=[ds.anonymous_volume("/data")])
    vol = docker_engine.client().containers.get(cname).attrs["Mounts"][0]["Name"]
    assert docker_engine.client().volumes.get(vol).attrs["Labels"][session.SESSION_LABEL] == session.SESSION_ID
    foreign = docker_engine.client().volumes.create(name=session.resource_name("not-mine"))
    try:
        ds.remove_container(cname)
        pruned = ds.prune_session_volumes()
        assert vol in pruned
        assert foreign.name not in pruned
        docker_engine.client().volumes.get(foreign.name)  # still there
    finally:
        foreign.remove(force=True)


def test_backup_and_restore_roundtrip():
    src, dst = session.resource_name("store"), session.resource_name("store2")
    ds.sh("mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b", name=src, keep=True,
          mounts=[ds.anonymous_volume("/data")])
    tar, listing = ds.backup(src, "/data")
    assert tar.exists() and "data/sub/b" in listing
    ds.restore(dst, "/data2")
    out = ds.sh("cat /data2/a /data2/sub/b", volumes_from=[dst])
    assert out.split() == ["one", "two"]


def test_restore_without_backup_is_explained():
    with pytest.raises(NotFound):
        ds.restore(session.resource_name("x"), backup_dir=ds.workdir("empty"))


def test_database_keeps_data_across_containers():
    name, vol = session.resource_name("db"), session.resource_name("dbdata")
    db = ds.start_database(timeout=90)  # the default names are the session's
    assert db.name == name and db.attrs["Mounts"][0]["Name"] == vol
    ds.sql(db, "CREATE TABLE t (x INT); INSERT INTO t VALUES (42);", database="shop")
    ds.remove_container(name)
    db = ds.start_database(name, vol, timeout=90)
    assert ds.sql(db, "SELECT x FROM t", database="shop") == [("42",)]
    with pytest.raises(WorkbookError, match="refused"):
        ds.sql(db, "SELECT * FROM no_such_table", database="shop")


def test_bind_mount_and_plugin_message():
    host = ds.workdir("bind")
    ds.sh("echo hi > /b/x", volumes={str(host): {"bind": "/b", "mode": "rw"}})
    assert (host / "x").read_text() == "hi\n"
    message = ds.try_install_plugin("vieux/sshfs")
    assert "vieux/sshfs" in message


def test_throughput_measures_three_targets():
    result = ds.measure_write_throughput(mb=8, repeats=2, files=20)
    assert set(result.big_file) == {"container layer", "volume", "bind mount"}
    assert all(len(v) == 2 and min(v) > 0 for v in result.big_file.values())
    fig = ds.plot_throughput(result)
    assert fig.axes[0].get_ylabel().startswith("write speed")


def test_implicit_volume_is_created_by_the_engine_and_removed():
    seen = ds.implicit_volume("wbtest-implicit")
    assert seen["driver"] == "local" and seen["labels"] == {} and seen["container saw"] == ["f.txt"]
    assert not docker_engine.client().volumes.list(filters={"name": seen["name"]})


def test_listing_shows_only_this_session():
    mine = session.resource_name("listed")
    ds.create_volume(mine)
    holder = session.resource_name("lister")
    ds.sh("true", name=holder, keep=True, volumes={mine: {"bind": "/v", "mode": "rw"}})
    # Another session's volume, used by another session's container: not ours to list.
    other_labels = {**session.labels(), session.SESSION_LABEL: "0badc0de"}
    cli = docker_engine.client()
    other = cli.volumes.create(name=session.resource_name("listed", "0badc0de"), labels=other_labels)
    other_c = cli.containers.create("debian", "true", labels=other_labels, name=session.resource_name("user", "0badc0de"),
                                    volumes={mine: {"bind": "/v", "mode": "rw"}})
    try:
        rows = {r["name"]: r for r in ds.list_volumes()}
        assert mine in rows and other.name not in rows
        assert rows[mine]["used by"] == holder
    finally:
        other_c.remove(force=True)
        other.remove(force=True)


def test_unnamed_containers_get_session_names():
    ds.sh("true", keep=True, mounts=[ds.anonymous_volume("/d")])
    names = [c.name for c in docker_engine.client().containers.list(all=True, filters=docker_engine.session_filter())]
    assert names and all(n.startswith(session.resource_name("sh-")) for n in names)


def test_prune_skips_other_sessions_volumes():
    other_labels = {**session.labels(), session.SESSION_LABEL: "0badc0de"}
    other = docker_engine.client().volumes.create(name=session.resource_name("unused", "0badc0de"),
                                                  labels=other_labels)
    mine = ds.create_volume(session.resource_name("unused"))
    try:
        pruned = ds.prune_session_volumes()
        assert mine.name in pruned and other.name not in pruned
        docker_engine.client().volumes.get(other.name)  # still there
    finally:
        other.remove(force=True)
