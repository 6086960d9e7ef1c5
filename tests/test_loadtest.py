"""helpers.loadtest against real servers (dev server in a thread, waitress in a process)."""

import sys

import pytest

from helpers import loadtest, servers, tasks_service
from helpers.errors import WorkbookError


@pytest.fixture(scope="module")
def dev():
    server = servers.serve(tasks_service.create_app(), name="t-load-dev")
    yield server
    server.stop()


def test_run_load_measures_every_request(dev):
    r = loadtest.run_load(dev.url + "/health", concurrency=2, requests=40, label="dev")
    assert r.ok == 40 and r.errors == 0 and r.throughput > 0
    assert 0 < r.percentile(50) <= r.percentile(99) <= max(r.latencies_ms)
    assert r.summary()["server"] == "dev"


def test_sweep_with_waitress_and_plots(dev):
    port = servers.free_port()
    w = servers.serve_process([sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}",
                               "--call", "helpers.tasks_service:create_app"], name="t-load-waitress", port=port,
                              env={"WORKBOOK_NO_SWEEP": "1"})
    try:
        sweeps = {"dev": loadtest.sweep(dev.url + "/health", (1, 4), requests=30, progress=False),
                  "waitress": loadtest.sweep(w.url + "/health", (1, 4), requests=30, progress=False)}
    finally:
        w.stop()
    assert [r.concurrency for r in sweeps["waitress"]] == [1, 4]
    assert "<table>" in loadtest.results_table(sweeps)
    assert loadtest.plot_throughput(sweeps).axes[0].get_ylabel() == "throughput (requests/s)"
    assert loadtest.plot_latency({k: v[-1] for k, v in sweeps.items()}).axes[0].get_xlabel() == "latency (ms)"


def test_errors_are_counted_not_timed(dev):
    with pytest.raises(WorkbookError, match="No request"):
        loadtest.run_load(dev.url + "/nope", concurrency=1, requests=5)


@pytest.mark.parametrize("url,kw,match", [
    ("http://10.0.0.1/", {}, "only target this machine"),
    ("http://example.com/", {}, "only target this machine"),
    ("https://127.0.0.1/", {}, "plain http"),
    ("not a url", {}, "spaces"),
    ("http://127.0.0.1:{free}/", {}, "Nothing accepts"),
    ("{dev}/health", {"concurrency": 0}, "concurrency"),
    ("{dev}/health", {"concurrency": 2, "requests": 10**6}, "requests"),
])
def test_bad_input(dev, url, kw, match):
    url = url.format(free=servers.free_port(), dev=dev.url)
    with pytest.raises(WorkbookError, match=match):
        loadtest.run_load(url, **kw)


def test_plots_need_results():
    with pytest.raises(WorkbookError):
        loadtest.plot_throughput({})
    with pytest.raises(WorkbookError):
        loadtest.plot_latency({})


def test_reading_applies_littles_law(dev):
    results = loadtest.sweep(dev.url + "/health", (1, 2), requests=30, label="dev")
    text = loadtest.reading({"dev": results, "again": results})
    assert "Little's law predicts" in text and "1.0x" in text and text.count("clients: mean latency") == 4
