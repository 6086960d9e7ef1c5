"""The 'make the data survive in a named volume' checker: one correct and several incorrect answers."""

import time

import pytest

import helpers
from helpers.containers import engine, storage as ds, storage_checks
from helpers.core import session
from helpers.core.verdict import MIME, Verdict

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def _clean():
    yield
    storage_checks._BEGAN.clear()
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def test_named_volume_passes_and_is_a_verdict():
    name = session.resource_name("notes")
    verdict = storage_checks.check_data_survives({name: {"bind": "/data", "mode": "rw"}})
    assert isinstance(verdict, Verdict) and verdict, verdict
    assert "named volume" in str(verdict) and name in str(verdict)
    assert verdict._repr_mimebundle_()[MIME]["passed"] is True


def test_list_form_passes():
    assert storage_checks.check_data_survives([f"{session.resource_name('notes2')}:/data"])


@pytest.mark.parametrize("starter", [None, {}, []])
def test_nothing_yet_is_not_attempted(starter):
    verdict = storage_checks.check_data_survives(starter)
    assert not verdict and not verdict.attempted
    assert "NOT ATTEMPTED" in str(verdict) and "my_volumes" in str(verdict)


def test_anonymous_volume_fails():
    verdict = storage_checks.check_data_survives(["/data"])
    assert not verdict
    assert "anonymous volume" in str(verdict) and "give the volume a name" in str(verdict)


def test_wrong_path_fails():
    verdict = storage_checks.check_data_survives({session.resource_name("n3"): {"bind": "/backup", "mode": "rw"}})
    assert not verdict
    assert "not at /data" in str(verdict) and "hint: mount the volume at /data" in str(verdict)


def test_read_only_fails():
    verdict = storage_checks.check_data_survives({session.resource_name("n4"): {"bind": "/data", "mode": "ro"}})
    assert not verdict
    assert "read-only" in str(verdict) and "'rw'" in str(verdict)


def test_bind_mount_is_not_a_volume():
    host = ds.workdir("notes")
    verdict = storage_checks.check_data_survives({str(host): {"bind": "/data", "mode": "rw"}})
    assert not verdict
    assert "bind mount, not a volume" in str(verdict) and "instead of a host path" in str(verdict)


def test_malformed_setting_is_explained():
    verdict = storage_checks.check_data_survives({"x": 42})
    assert not verdict
    assert "should look like" in str(verdict)


@pytest.mark.parametrize("setting", ["notes", ["notes:data"], {"notes": {"bind": "data"}}])
def test_relative_container_path_is_explained(setting):
    verdict = storage_checks.check_data_survives(setting)
    assert not verdict
    assert "must be absolute" in str(verdict) and "starts with /" in str(verdict)


def test_a_bare_volume_name_runs_as_this_sessions_volume():
    verdict = storage_checks.check_data_survives({"notes": {"bind": "/data", "mode": "rw"}})
    assert verdict, verdict
    assert session.resource_name("notes") in str(verdict)
    vol = engine.client().volumes.get(session.resource_name("notes"))
    assert vol.attrs["Labels"][session.SESSION_LABEL] == session.SESSION_ID


def test_another_sessions_volume_is_refused():
    verdict = storage_checks.check_data_survives([f"{session.resource_name('notes', '0badc0de')}:/data"])
    assert not verdict
    assert "another notebook's session" in str(verdict) and "a name of your own" in str(verdict)


def test_a_volume_made_before_the_exercise_does_not_count():
    # A demonstration cell made this volume (and it would keep the data): it is not the answer's doing.
    earlier = ds.create_volume(session.resource_name("dbdata"))
    time.sleep(1.1)  # the engine dates volumes in whole seconds
    storage_checks.begin_exercise()
    verdict = storage_checks.check_data_survives({earlier.name: {"bind": "/data", "mode": "rw"}})
    assert not verdict
    assert "earlier cell" in str(verdict) and "new volume of your own" in str(verdict)
    # A volume the answer brings (made by the check itself, or by the student's cell) counts, re-runs too.
    assert storage_checks.check_data_survives({"notes": {"bind": "/data", "mode": "rw"}})
    assert storage_checks.check_data_survives({"notes": {"bind": "/data", "mode": "rw"}})


def test_a_tmpfs_volume_forgets_and_is_told_so():
    ds.create_volume(session.resource_name("ram"), driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    verdict = storage_checks.check_data_survives({"ram": {"bind": "/data", "mode": "rw"}})
    assert not verdict
    assert "did not find the line" in str(verdict) and "tmpfs" in str(verdict)
