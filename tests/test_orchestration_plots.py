"""helpers.orchestration_plots: the pictures, from real compose files and sample data."""

from __future__ import annotations

from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers import orchestration_plots as op  # noqa: E402
from helpers.compose import COMPOSE_DIR  # noqa: E402
from helpers.errors import WorkbookError  # noqa: E402


def teardown_function():
    plt.close("all")


def test_levels_of_the_shipped_project():
    model = op.load_compose(COMPOSE_DIR)
    assert op.levels(model) == {"proxy": 1, "tasks": 0}


def test_dependency_graph_draws_services_volumes_and_ports():
    ax = op.dependency_graph(COMPOSE_DIR)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "proxy" in texts and "tasks" in texts
    assert "volume tasks-data" in texts
    assert "host port 8080→80" in texts
    assert "depends_on\n(healthy)" in texts


def test_dependency_graph_accepts_a_list_depends_on_and_default_network():
    model = {"services": {"web": {"build": ".", "depends_on": ["db", "redis"], "ports": ["8000:80"]},
                          "redis": {"image": "redis"}, "db": {"image": "postgres", "volumes": ["data:/var/lib"]}}}
    assert op.levels(model) == {"web": 1, "redis": 0, "db": 0}
    ax = op.dependency_graph(model)
    assert any("network default" == t.get_text() for t in ax.get_legend().get_texts())


def test_a_cycle_and_an_undefined_dependency_are_sentences():
    with pytest.raises(WorkbookError, match="circle"):
        op.levels({"services": {"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}}})
    with pytest.raises(WorkbookError, match="not defined"):
        op.levels({"services": {"a": {"depends_on": ["ghost"]}}})


def test_bad_compose_files_are_sentences(tmp_path):
    (tmp_path / "compose.yaml").write_text("services: [unclosed\n")
    with pytest.raises(WorkbookError, match="not valid YAML"):
        op.load_compose(tmp_path)
    (tmp_path / "compose.yaml").write_text("volumes: {}\n")
    with pytest.raises(WorkbookError, match="no services"):
        op.load_compose(tmp_path)
    with pytest.raises(WorkbookError, match="no compose file"):
        op.load_compose(tmp_path / "nothing")


def _samples():
    out = []
    for i in range(20):
        out.append({"t": i * 0.25, "desired": 3, "running": 2 if 4 <= i < 9 else 3,
                    "versions": {"1": 3 if i < 10 else 1, "2": 0 if i < 10 else 2},
                    "event": "killed web.1" if i == 4 else None})
    return out


def test_replica_timeline_and_versions():
    ax = op.replica_timeline(_samples())
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "replicas"
    assert any("killed" in t.get_text() for t in ax.texts)
    ax = op.versions_timeline(_samples())
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["VERSION=1", "VERSION=2"]
    with pytest.raises(WorkbookError):
        op.replica_timeline([])


def test_request_spread():
    ax = op.request_spread(Counter({"a": 10, "b": 11, "c": 9}))
    assert "30 requests" in ax.get_title()
    with pytest.raises(WorkbookError):
        op.request_spread({})


def test_spread_requests_to_nowhere_is_a_sentence():
    with pytest.raises(WorkbookError, match="is the project up"):
        op.spread_requests("http://127.0.0.1:9/", n=1)


def test_upstream_header_counts_the_replica_that_answered():
    assert op._upstreams("172.18.0.3:5000") == ["172.18.0.3:5000"]
    assert op._upstreams("172.18.0.4:5000, 172.18.0.5:5000")[-1] == "172.18.0.5:5000"
    assert op._upstreams("a:1 : b:2") == ["a:1", "b:2"]
    assert op._upstreams("") == ["?"]
