"""helpers.services.loadtest against real servers (dev server in a thread, waitress in a process)."""

import sys

import pytest

from helpers.services import loadtest, tasks
from helpers.core import servers
from helpers.core.errors import WorkbookError


@pytest.fixture(scope="module")
def dev():
    server = servers.serve(tasks.create_app(), name="t-load-dev")
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
                               "--call", "helpers.services.tasks:create_app"], name="t-load-waitress", port=port,
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
    assert "Little's law predicts" in text and text.count("clients: mean latency") == 4
    assert "is 1.00x dev's" in text and "about the same as it" in text
    assert "again had the lower median latency at 0 of the 2 concurrency levels." in text


def test_compare_says_which_server_came_out_ahead_in_this_run():
    def run(label, concurrency, ms, seconds):
        return loadtest.LoadResult(label, "http://x", concurrency, latencies_ms=[ms] * 10, elapsed_s=seconds)
    slow = [run("slow", 1, 2.0, 0.02), run("slow", 2, 4.0, 0.02)]
    fast = [run("fast", 1, 1.0, 0.01), run("fast", 2, 5.0, 0.02)]
    lines = loadtest.compare({"slow": slow, "fast": fast})
    assert lines[0].startswith("In this run fast's peak throughput") and "higher than it" in lines[0]
    assert lines[1] == "fast had the lower median latency at 1 of the 2 concurrency levels (1 clients)."
    assert "lower than it" in loadtest.compare({"fast": fast, "slow": slow})[0]
