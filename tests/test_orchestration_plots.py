"""helpers.orchestration.plots: the pictures, from real compose files and sample data."""

from __future__ import annotations

from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from helpers.orchestration import plots as op  # noqa: E402
from helpers.orchestration.project_files import COMPOSE_DIR  # noqa: E402
from helpers.core.errors import WorkbookError  # noqa: E402


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
    assert "30 requests" in ax.get_title()  # a plain counter: no claim about failures
    with pytest.raises(WorkbookError):
        op.request_spread({})


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_the_even_share_label_covers_no_bar_label():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ax = op.request_spread(Counter({"wb-1-tasks-tasks-1": 29, "wb-1-tasks-tasks-2": 31, "wb-1-tasks-tasks-3": 30}))
    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    even = next(t for t in ax.texts if t.get_gid() == "even-share").get_window_extent(renderer)
    bar_labels = [t for t in ax.texts if t.get_gid() != "even-share"]
    assert len(bar_labels) == 3
    assert not any(_overlaps(even, t.get_window_extent(renderer)) for t in bar_labels)
    assert ax.get_legend() is None or not _overlaps(ax.get_legend().get_window_extent(renderer),
                                                    bar_labels[0].get_window_extent(renderer))


class _FakeProxy:
    """An nginx stand-in in front of two replicas: round robin, and ``dead`` answers 502 (no replica
    behind it), as nginx does when the replica it picked cannot be reached and no other is tried."""

    def __init__(self, dead: bool):
        from flask import Flask

        from helpers.core import servers

        self.turn = 0
        app = Flask("fake-proxy")

        @app.get("/api/v1/tasks")
        def tasks():
            self.turn += 1
            upstream = ["172.30.0.2:5000", "172.30.0.3:5000"][self.turn % 2]
            failing = dead and upstream.startswith("172.30.0.3")
            return ("", 502, {"X-Upstream": upstream}) if failing else ("[]", 200, {"X-Upstream": upstream})

        self.server = servers.serve(app, name=f"fake-proxy-{dead}")
        self.url = f"http://127.0.0.1:{self.server.port}/api/v1/tasks"


NAMES = {"172.30.0.2": "wb-0123abcd-capstone-tasks-1", "172.30.0.3": "wb-0123abcd-capstone-tasks-2"}


@pytest.mark.parametrize("dead", [False, True])
def test_the_title_after_a_kill_says_what_the_requests_came_to(dead):
    """Notebook 15's last chart: its title is computed from the answers, so a replica that fails
    turns "every request answered" into how many failed."""
    proxy = _FakeProxy(dead)
    try:
        counts = op.spread_requests(proxy.url, n=10, names=NAMES)
    finally:
        proxy.server.stop()
    title = op.request_spread(counts, title="After killing one replica").get_title()
    if dead:
        assert counts.failed == 5 and sum(counts.values()) == 5
        assert title == "After killing one replica: 5 of 10 requests failed (HTTP 502 ×5)"
    else:
        assert counts.failed == 0 and title == "After killing one replica: every one of the 10 requests answered"


def test_spread_requests_to_nowhere_is_a_sentence():
    with pytest.raises(WorkbookError, match="is the project up"):
        op.spread_requests("http://127.0.0.1:9/", n=1)


def test_upstream_header_counts_the_replica_that_answered():
    assert op._upstreams("172.18.0.3:5000") == ["172.18.0.3:5000"]
    assert op._upstreams("172.18.0.4:5000, 172.18.0.5:5000")[-1] == "172.18.0.5:5000"
    assert op._upstreams("a:1 : b:2") == ["a:1", "b:2"]
    assert op._upstreams("") == ["?"]
