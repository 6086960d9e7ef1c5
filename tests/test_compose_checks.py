"""helpers.compose_checks: each exercise checker with a correct and wrong solutions, on the real engine."""

from __future__ import annotations

import pytest

from helpers import compose, compose_checks as cc

pytestmark = pytest.mark.skipif(not compose.available(), reason="needs Docker and Docker Compose")


def _copy(name, change):
    d = cc.exercise_copy(name)
    cc.save(d, change(cc.load(d)))
    return d


# --- a cache service reached by name ---------------------------------------------------

def test_cache_correct():
    verdict = cc.check_cache_service(_copy("c-ok", cc.solve_cache))
    assert verdict and "PASSED" in str(verdict)


def test_cache_missing_is_not_attempted():
    verdict = cc.check_cache_service(_copy("c-none", lambda m: m))
    assert not verdict and not verdict.attempted and "Add a service `cache`" in str(verdict)


def test_checks_return_the_shared_verdict():
    from helpers.verdict import Verdict

    assert isinstance(cc.check_cache_service(_copy("c-type", lambda m: m)), Verdict)


def test_cache_on_another_network():
    def change(m):
        m = cc.solve_cache(m)
        m["services"]["cache"]["networks"] = ["private"]
        m["networks"]["private"] = {}
        return m
    verdict = cc.check_cache_service(_copy("c-net", change))
    assert not verdict and "share no network" in str(verdict) and "names resolve only on a shared network" in str(verdict)


def test_cache_on_an_undeclared_network_is_rejected_by_compose():
    def change(m):
        m = cc.solve_cache(m)
        m["services"]["cache"]["networks"] = ["backend"]
        return m
    verdict = cc.check_cache_service(_copy("c-undeclared", change))
    assert not verdict and "Compose rejects the file" in str(verdict) and "top-level networks" in str(verdict)


def test_cache_without_dependency_says_why_the_name_fails():
    def change(m):
        m = cc.solve_cache(m)
        del m["services"]["tasks"]["depends_on"]
        return m
    verdict = cc.check_cache_service(_copy("c-nodep", change))
    out = str(verdict)
    assert not verdict and "does not resolve" in out and "depends on" in out


def test_cache_that_does_not_listen():
    def change(m):
        m = cc.solve_cache(m)
        m["services"]["cache"]["command"] = ["sleep", "infinity"]
        return m
    assert not cc.check_cache_service(_copy("c-deaf", change))


# --- data that survives down -----------------------------------------------------------

def test_data_correct():
    assert cc.check_data_survives(_copy("d-ok", lambda m: m))


def test_data_without_volume():
    def change(m):
        del m["services"]["tasks"]["volumes"]
        return m
    assert not cc.check_data_survives(_copy("d-novol", change))


def test_data_volume_at_the_wrong_path():
    def change(m):
        m["services"]["tasks"]["volumes"] = ["tasks-data:/srv/elsewhere"]
        return m
    assert not cc.check_data_survives(_copy("d-path", change))


# --- three replicas ----------------------------------------------------------------------

def test_replicas_correct():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 3}
        return m
    assert cc.check_replicas(_copy("r-ok", change))


def test_replicas_too_few():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 2}
        return m
    verdict = cc.check_replicas(_copy("r-two", change))
    assert not verdict and "asks for 2 replica(s)" in str(verdict)


def test_replicas_not_declared_is_not_attempted():
    verdict = cc.check_replicas(_copy("r-none", lambda m: m))
    assert not verdict and not verdict.attempted and "deploy: replicas: 3" in str(verdict)


def test_replicas_with_a_fixed_container_name():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 3}
        m["services"]["tasks"]["container_name"] = "tasks"
        return m
    verdict = cc.check_replicas(_copy("r-name", change))
    assert not verdict and "cannot share one container_name" in str(verdict)


def test_replicas_key_in_the_wrong_place():
    def change(m):
        m["services"]["tasks"]["replicas"] = 3
        return m
    verdict = cc.check_replicas(_copy("r-place", change))
    assert not verdict and "under the service's `deploy:`" in str(verdict)


def test_replicas_with_a_fixed_host_port():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 3}
        m["services"]["tasks"]["ports"] = ["127.0.0.1:5099:5000"]
        return m
    verdict = cc.check_replicas(_copy("r-port", change))
    assert not verdict and "one fixed host port" in str(verdict)


def test_checker_shows_a_verdict():
    verdict = cc.check_cache_service(_copy("c-print", lambda m: m))
    assert "✘ There is no service called `cache`" in str(verdict) and "NOT ATTEMPTED" in str(verdict)
