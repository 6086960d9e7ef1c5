"""docker_storage against the real Docker engine."""

import pytest

import helpers
from helpers.containers import engine, storage as ds
from helpers.core import session
from helpers.core.errors import AlreadyInUse, WorkbookError

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()



def _sh(command, **kwargs) -> str:
    """docker run --rm debian bash -c COMMAND: its output (stdout and stderr)."""
    return engine.run("debian", ["bash", "-c", command], remove=True, stderr=True, quiet=True, **kwargs).decode()

def test_volume_is_labelled_and_reused():
    name = session.resource_name("t-vol")
    v1 = ds.create_volume(name)
    v2 = ds.create_volume(name)
    assert v1.id == v2.id
    assert v1.attrs["Labels"][session.SESSION_LABEL] == session.SESSION_ID
    assert any(r["name"] == name for r in ds.list_volumes())


def test_foreign_volume_name_is_refused():
    cli = engine.client()
    foreign = cli.volumes.create(name=session.resource_name("foreign"))
    try:
        with pytest.raises(AlreadyInUse):
            ds.create_volume(foreign.name)
    finally:
        foreign.remove(force=True)


def test_data_in_volume_survive_and_read_only_refuses_writes():
    name = session.resource_name("t-data")
    ds.create_volume(name)
    spec = {name: {"bind": "/v", "mode": "rw"}}
    _sh("echo hello > /v/f.txt", volumes=spec)
    assert _sh("cat /v/f.txt", volumes=spec).strip() == "hello"
    with pytest.raises(WorkbookError, match="Read-only"):
        _sh("echo x > /v/g.txt", volumes={name: {"bind": "/v", "mode": "ro"}})


def test_database_keeps_data_across_containers():
    name, vol = session.resource_name("db"), session.resource_name("dbdata")
    db = ds.start_database(timeout=90)  # the default names are the session's
    assert db.name == name and db.attrs["Mounts"][0]["Name"] == vol
    assert db.exec_run(["mariadb", "-uroot", "shop", "-e", "CREATE TABLE t (x INT); INSERT INTO t VALUES (42);"]).exit_code == 0
    engine.client().containers.get(name).remove(force=True)
    db = ds.start_database(name, vol, timeout=90)
    result = db.exec_run(["mariadb", "-uroot", "shop", "--batch", "--skip-column-names", "-e", "SELECT x FROM t"])
    assert result.output.decode().split() == ["42"]


def test_wait_database_explains_a_server_that_stops():
    # A container that exits at once is not a database that starts slowly: one sentence, at once.
    box = engine.run("debian", ["true"], detach=True, quiet=True, name=session.resource_name("not-a-db"))
    box.wait(timeout=30)
    with pytest.raises(WorkbookError, match="stopped while starting"):
        ds.wait_database(box, timeout=10)


def test_bind_mount_writes_into_the_host_folder():
    host = ds.workdir("bind")
    _sh("echo hi > /b/x", volumes={str(host): {"bind": "/b", "mode": "rw"}})
    assert (host / "x").read_text() == "hi\n"


def test_throughput_measures_three_targets():
    result = ds.measure_write_throughput(mb=8, repeats=2, files=20)
    assert set(result.big_file) == {"container layer", "volume", "bind mount"}
    assert all(len(v) == 2 and min(v) > 0 for v in result.big_file.values())
    fig = ds.plot_throughput(result)
    assert fig.axes[0].get_ylabel().startswith("write speed")


def test_listing_shows_only_this_session(capsys):
    mine = session.resource_name("listed")
    ds.create_volume(mine)
    holder = session.resource_name("lister")
    engine.client().containers.run("debian", "true", name=holder, labels=session.labels(),
                                   volumes={mine: {"bind": "/v", "mode": "rw"}})  # ran, and kept
    # Another session's volume, used by another session's container: not ours to list.
    other_labels = {**session.labels(), session.SESSION_LABEL: "0badc0de"}
    cli = engine.client()
    other = cli.volumes.create(name=session.resource_name("listed", "0badc0de"), labels=other_labels)
    other_c = cli.containers.create("debian", "true", labels=other_labels, name=session.resource_name("user", "0badc0de"),
                                    volumes={mine: {"bind": "/v", "mode": "rw"}})
    try:
        rows = {r["name"]: r for r in ds.list_volumes()}
        assert mine in rows and other.name not in rows
        assert rows[mine]["used by"] == holder
        ds.show_volumes()
        shown = capsys.readouterr().out
        assert shown.splitlines()[0].split() == ["NAME", "DRIVER", "MOUNTPOINT", "USED", "BY"]
        assert mine in shown and holder in shown and other.name not in shown
    finally:
        other_c.remove(force=True)
        other.remove(force=True)


def test_short_volume_names():
    anon = "0db0dce675a9a32fc6e2b226295bdcc1b929fff8e5a0075a938567de74629809"
    assert ds.short_volume_name(anon) == "0db0dce675a9… (anonymous)"
    assert ds.short_volume_name("wb-1a2b3c4d-vol2") == "wb-1a2b3c4d-vol2"


def test_user_flag_writes_files_owned_by_a_non_root_user():
    uid, gid = ds.ordinary_user()
    assert uid != 0
    folder = ds.user_folder("userdata", uid, gid)
    out = _sh("echo mine > /data/mine.txt && id -u", user=f"{uid}:{gid}",
              volumes={str(folder): {"bind": "/data", "mode": "rw"}})
    assert out.strip() == str(uid)
    assert (folder / "mine.txt").stat().st_uid == uid


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


def test_show_volumes_says_when_there_is_none(capsys):
    ds.show_volumes()
    assert capsys.readouterr().out.strip() == "(no volume)"
