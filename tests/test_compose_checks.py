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
    assert cc.check_cache_service(_copy("c-ok", cc.solve_cache), quiet=True)


def test_cache_missing():
    assert not cc.check_cache_service(_copy("c-none", lambda m: m), quiet=True)


def test_cache_on_another_network():
    def change(m):
        m = cc.solve_cache(m)
        m["services"]["cache"]["networks"] = ["private"]
        m["networks"]["private"] = {}
        return m
    assert not cc.check_cache_service(_copy("c-net", change), quiet=True)


def test_cache_without_dependency_says_why_the_name_fails(capsys):
    def change(m):
        m = cc.solve_cache(m)
        del m["services"]["tasks"]["depends_on"]
        return m
    assert not cc.check_cache_service(_copy("c-nodep", change))
    out = capsys.readouterr().out
    assert "does not resolve" in out and "depends on" in out


def test_cache_that_does_not_listen():
    def change(m):
        m = cc.solve_cache(m)
        m["services"]["cache"]["command"] = ["sleep", "infinity"]
        return m
    assert not cc.check_cache_service(_copy("c-deaf", change), quiet=True)


# --- data that survives down -----------------------------------------------------------

def test_data_correct():
    assert cc.check_data_survives(_copy("d-ok", lambda m: m), quiet=True)


def test_data_without_volume():
    def change(m):
        del m["services"]["tasks"]["volumes"]
        return m
    assert not cc.check_data_survives(_copy("d-novol", change), quiet=True)


def test_data_volume_at_the_wrong_path():
    def change(m):
        m["services"]["tasks"]["volumes"] = ["tasks-data:/srv/elsewhere"]
        return m
    assert not cc.check_data_survives(_copy("d-path", change), quiet=True)


# --- three replicas ----------------------------------------------------------------------

def test_replicas_correct():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 3}
        return m
    assert cc.check_replicas(_copy("r-ok", change), quiet=True)


def test_replicas_too_few():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 2}
        return m
    assert not cc.check_replicas(_copy("r-two", change), quiet=True)


def test_replicas_with_a_fixed_container_name():
    def change(m):
        m["services"]["tasks"]["deploy"] = {"replicas": 3}
        m["services"]["tasks"]["container_name"] = "tasks"
        return m
    assert not cc.check_replicas(_copy("r-name", change), quiet=True)


def test_checker_prints_a_verdict(capsys):
    assert not cc.check_cache_service(_copy("c-print", lambda m: m))
    out = capsys.readouterr().out
    assert "✘ There is no service called `cache`" in out and "NOT YET" in out
