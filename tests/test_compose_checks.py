"""helpers.orchestration.checks: each exercise checker with a correct and wrong solutions, on the real engine."""

from __future__ import annotations

import pytest

from helpers.orchestration import checks as cc

pytestmark = pytest.mark.compose


def _copy(name, change=lambda text: text):
    """A fresh exercise copy whose compose.yaml is the shipped one, changed as text by ``change``."""
    d = cc.exercise_copy(name)
    path = d / "compose.yaml"
    path.write_text(change(path.read_text()))
    return d


def _under(service: str, yaml_lines: str):
    """A text change: insert ``yaml_lines`` (indented as keys of a service) right under ``  service:``."""
    def change(text):
        assert f"\n  {service}:\n" in text
        return text.replace(f"\n  {service}:\n", f"\n  {service}:\n{yaml_lines}", 1)
    return change


CACHE = "  cache:\n    image: redis\n    networks: [frontend]\n"
DEPENDS = "    depends_on:\n      cache:\n        condition: service_started\n"


def _cache(cache: str = CACHE, depends: str = DEPENDS, extra=lambda text: text):
    def change(text):
        text = text.replace("\nservices:\n", "\nservices:\n" + cache, 1)
        return extra(_under("tasks", depends)(text) if depends else text)
    return change


def _replace(old: str, new: str):
    def change(text):
        assert old in text
        return text.replace(old, new)
    return change


# --- a cache service reached by name ---------------------------------------------------

def test_cache_correct():
    verdict = cc.check_cache_service(_copy("c-ok", _cache()))
    assert verdict and "PASSED" in str(verdict)


def test_cache_missing_is_not_attempted():
    verdict = cc.check_cache_service(_copy("c-none"))
    assert not verdict and not verdict.attempted and "Add a service `cache`" in str(verdict)


def test_checks_return_the_shared_verdict():
    from helpers.core.verdict import Verdict

    assert isinstance(cc.check_cache_service(_copy("c-type")), Verdict)


def test_cache_on_another_network():
    change = _cache(cache="  cache:\n    image: redis\n    networks: [private]\n",
                    extra=_replace("\nnetworks:\n", "\nnetworks:\n  private:\n"))
    verdict = cc.check_cache_service(_copy("c-net", change))
    assert not verdict and "share no network" in str(verdict) and "names resolve only on a shared network" in str(verdict)


def test_cache_on_an_undeclared_network_is_rejected_by_compose():
    change = _cache(cache="  cache:\n    image: redis\n    networks: [backend]\n")
    verdict = cc.check_cache_service(_copy("c-undeclared", change))
    assert not verdict and "Compose rejects the file" in str(verdict) and "top-level networks" in str(verdict)


def test_cache_without_dependency_says_why_the_name_fails():
    change = _cache(depends="")
    verdict = cc.check_cache_service(_copy("c-nodep", change))
    out = str(verdict)
    assert not verdict and "does not resolve" in out and "depends on" in out


def test_cache_that_does_not_listen():
    change = _cache(cache=CACHE + "    command: [\"sleep\", \"infinity\"]\n")
    assert not cc.check_cache_service(_copy("c-deaf", change))


# --- data that survives down -----------------------------------------------------------

def test_data_correct():
    assert cc.check_data_survives(_copy("d-ok"))


def test_data_without_volume():
    change = _replace("    volumes:\n      - tasks-data:/data", "")
    assert not cc.check_data_survives(_copy("d-novol", change))


def test_data_volume_at_the_wrong_path():
    change = _replace("tasks-data:/data ", "tasks-data:/srv/elsewhere ")
    assert not cc.check_data_survives(_copy("d-path", change))


# --- three replicas ----------------------------------------------------------------------

def test_replicas_correct():
    change = _under("tasks", "    deploy:\n      replicas: 3\n")
    assert cc.check_replicas(_copy("r-ok", change))


def test_replicas_too_few():
    change = _under("tasks", "    deploy:\n      replicas: 2\n")
    verdict = cc.check_replicas(_copy("r-two", change))
    assert not verdict and "asks for 2 replica(s)" in str(verdict)


def test_replicas_not_declared_is_not_attempted():
    verdict = cc.check_replicas(_copy("r-none"))
    assert not verdict and not verdict.attempted and "deploy: replicas: 3" in str(verdict)


def test_replicas_with_a_fixed_container_name():
    change = _under("tasks", "    deploy:\n      replicas: 3\n    container_name: tasks\n")
    verdict = cc.check_replicas(_copy("r-name", change))
    assert not verdict and "cannot share one container_name" in str(verdict)


def test_replicas_key_in_the_wrong_place():
    change = _under("tasks", "    replicas: 3\n")
    verdict = cc.check_replicas(_copy("r-place", change))
    assert not verdict and "under the service's `deploy:`" in str(verdict)


def test_replicas_with_a_fixed_host_port():
    change = _under("tasks", "    deploy:\n      replicas: 3\n    ports: [\"127.0.0.1:5099:5000\"]\n")
    verdict = cc.check_replicas(_copy("r-port", change))
    assert not verdict and "one fixed host port" in str(verdict)


def test_checker_shows_a_verdict():
    verdict = cc.check_cache_service(_copy("c-print"))
    assert "✘ There is no service called `cache`" in str(verdict) and "NOT ATTEMPTED" in str(verdict)


def test_the_students_file_needs_no_workbook_label():
    """The check's project is the session's (labels from session-labels.yaml), though the file has none."""
    from helpers.core import session

    d = _copy("c-labels", _cache())
    assert "org.cloud-workbook" not in (d / "compose.yaml").read_text()
    project = cc._check_project(d, "labels")
    model = project.config()
    assert model["services"]["cache"]["labels"][session.SESSION_LABEL] == session.SESSION_ID
    assert model["networks"]["frontend"]["labels"][session.SESSION_LABEL] == session.SESSION_ID
