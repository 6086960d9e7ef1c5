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
        pruned = ds.prune_session_volumes(all_volumes=True)
        assert mine.name in pruned and other.name not in pruned
        docker_engine.client().volumes.get(other.name)  # still there
    finally:
        other.remove(force=True)


def test_plain_prune_does_what_this_engine_does_with_named_volumes():
    named = ds.create_volume(session.resource_name("plain-prune"))
    cname = session.resource_name("anon-prune")
    ds.sh("true", name=cname, keep=True, mounts=[ds.anonymous_volume("/data")])
    anon = docker_engine.client().containers.get(cname).attrs["Mounts"][0]["Name"]
    ds.remove_container(cname)
    pruned = ds.prune_session_volumes()
    assert anon in pruned  # anonymous and unused: every engine prunes it
    # Engine 23+ through API 1.42+ keeps unused named volumes unless --all; older ones take them.
    assert (named.name in pruned) is (not ds.prune_keeps_named_volumes())
    assert named.name in pruned + ds.prune_session_volumes(all_volumes=True)
    lines = ds.describe_pruned(pruned).splitlines()
    assert all(len(line) < 40 for line in lines) and any("(anonymous)" in line for line in lines)
    assert ds.describe_pruned([]) == "  (no volume)"


def test_engine_version_and_api_rule():
    v = ds.engine_version()
    assert v["engine"] and v["api"].count(".") == 1
    assert ds._api_at_least("1.42", (1, 42)) and ds._api_at_least("1.45", (1, 42))
    assert not ds._api_at_least("1.41", (1, 42))


def test_short_volume_names():
    anon = "0db0dce675a9a32fc6e2b226295bdcc1b929fff8e5a0075a938567de74629809"
    assert ds.short_volume_name(anon) == "0db0dce675a9… (anonymous)"
    assert ds.short_volume_name("wb-1a2b3c4d-vol2") == "wb-1a2b3c4d-vol2"


def test_user_flag_writes_files_owned_by_a_non_root_user():
    uid, gid = ds.ordinary_user()
    assert uid != 0
    folder = ds.user_folder("userdata", uid, gid)
    out = ds.sh("echo mine > /data/mine.txt && id -u", user=f"{uid}:{gid}",
                volumes={str(folder): {"bind": "/data", "mode": "rw"}})
    assert out.strip() == str(uid)
    assert (folder / "mine.txt").stat().st_uid == uid


def test_query_rows_have_column_names():
    db = ds.start_database(timeout=90)
    ds.sql(db, "CREATE TABLE IF NOT EXISTS p (name VARCHAR(9), price DECIMAL(4,2)); DELETE FROM p;"
               "INSERT INTO p VALUES ('mouse', 9.95);", database="shop")
    assert ds.query_rows(db, "SELECT * FROM p", database="shop") == [{"name": "mouse", "price": "9.95"}]


def test_throughput_findings_are_computed_from_the_run():
    r = ds.Throughput(mb=64, repeats=3,
                      big_file={"container layer": [100, 110, 120], "volume": [105, 115, 118], "bind mount": [90, 112, 130]},
                      small_files={"container layer": [1000, 1100, 1200], "volume": [3000, 3100, 3200],
                                   "bind mount": [2900, 3000, 3300]})
    big, small = r.findings()
    assert "no difference beyond" in big
    assert "volume was 2.8x as fast as the container layer" in small and "container layer / volume" in small
    fast = ds.Throughput(mb=64, repeats=1, big_file={"a": [1500], "b": [1400], "c": [1450]},
                         small_files={"a": [1], "b": [1], "c": [1]})
    assert any("1500 MB/s" in line and "write cache" in line for line in fast.findings())
