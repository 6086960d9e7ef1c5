"""The 'make the data survive' checker: one correct and several incorrect answers."""

import pytest

import helpers
from helpers import docker_engine, docker_storage as ds, session, storage_checks

pytestmark = pytest.mark.skipif(not docker_engine.available(), reason="no Docker daemon")


@pytest.fixture(autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def test_named_volume_passes():
    name = session.resource_name("notes")
    verdict = storage_checks.check_data_survives({name: {"bind": "/data", "mode": "rw"}})
    assert verdict.passed, verdict
    assert verdict.lines and "named volume" in verdict.lines[0]


def test_list_form_passes():
    assert storage_checks.check_data_survives([f"{session.resource_name('notes2')}:/data"]).passed


def test_no_volume_fails():
    verdict = storage_checks.check_data_survives({})
    assert not verdict.passed
    assert "writable layer" in str(verdict)


def test_anonymous_volume_fails():
    verdict = storage_checks.check_data_survives(["/data"])
    assert not verdict.passed
    assert "anonymous" in str(verdict)


def test_wrong_path_fails():
    verdict = storage_checks.check_data_survives({session.resource_name("n3"): {"bind": "/backup", "mode": "rw"}})
    assert not verdict.passed
    assert "not at /data" in str(verdict)


def test_read_only_fails():
    verdict = storage_checks.check_data_survives({session.resource_name("n4"): {"bind": "/data", "mode": "ro"}})
    assert not verdict.passed
    assert "read-only" in str(verdict)


def test_bind_mount_passes_with_a_remark():
    host = ds.workdir("notes")
    verdict = storage_checks.check_data_survives({str(host): {"bind": "/data", "mode": "rw"}})
    assert verdict.passed
    assert "bind mount" in str(verdict)


def test_malformed_setting_is_explained():
    verdict = storage_checks.check_data_survives({"x": 42})
    assert not verdict.passed
    assert "should look like" in str(verdict)


@pytest.mark.parametrize("setting", ["notes", ["notes:data"], {"notes": {"bind": "data"}}])
def test_relative_container_path_is_explained(setting):
    verdict = storage_checks.check_data_survives(setting)
    assert not verdict.passed
    assert "must be absolute" in str(verdict)


def test_a_bare_volume_name_runs_as_this_sessions_volume():
    verdict = storage_checks.check_data_survives({"notes": {"bind": "/data", "mode": "rw"}})
    assert verdict.passed, verdict
    assert session.resource_name("notes") in str(verdict)
    vol = docker_engine.client().volumes.get(session.resource_name("notes"))
    assert vol.attrs["Labels"][session.SESSION_LABEL] == session.SESSION_ID


def test_another_sessions_volume_is_refused():
    verdict = storage_checks.check_data_survives([f"{session.resource_name('notes', '0badc0de')}:/data"])
    assert not verdict.passed
    assert "another notebook's session" in str(verdict)
