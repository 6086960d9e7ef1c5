"""helpers.containers.lifecycle, internals and engine.owned/run against the real Docker engine.

The lessons call the Docker SDK themselves; what is tested here is what the helpers add."""

from __future__ import annotations

import docker.errors
import pytest

import helpers
from helpers.containers import engine, internals as I, lifecycle as C
from helpers.containers.base_images import ensure_image
from helpers.core.errors import WorkbookError
from helpers.core.session import labels, resource_name

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cli():
    ensure_image("debian", quiet=True)
    return engine.client()


@pytest.fixture
def sleeper(cli):
    c = cli.containers.run("debian", ["sleep", "infinity"], detach=True, name=resource_name("t-sleeper"),
                           labels=labels())
    yield c
    try:
        c.remove(force=True)
    except docker.errors.NotFound:
        pass


def test_owned_reads_the_session_label(cli, sleeper):
    assert engine.owned(sleeper) and engine.owned(sleeper.labels)
    foreign = cli.containers.create("debian", ["true"], labels={"org.cloud-workbook.session": "someone-else"})
    try:
        assert not engine.owned(foreign) and not engine.owned(None) and not engine.owned({})
    finally:
        foreign.remove(force=True)
    vol = cli.volumes.create(resource_name("t-owned"), labels=labels())
    try:
        assert engine.owned(vol)
    finally:
        vol.remove(force=True)


def test_engine_run_is_labelled_and_speaks_one_sentence(cli):
    out = engine.run("debian", ["echo", "hello"], remove=True, quiet=True)
    assert out.strip() == b"hello"
    box = engine.run("debian", ["sleep", "30"], detach=True, quiet=True)
    try:
        assert engine.owned(box)
    finally:
        box.remove(force=True)
    with pytest.raises(WorkbookError, match="exited with code 2|exit code 2"):
        engine.run("debian", ["sh", "-c", "exit 2"], quiet=True)


def test_image_name_and_port_lines(cli):
    box = cli.containers.run("debian", ["sleep", "30"], detach=True, labels=labels(),
                             ports={"80/tcp": ("127.0.0.1", None)})
    try:
        box.reload()
        assert C.image_name(box) == "debian"
        [line] = C.port_lines(box)
        assert line.startswith("80/tcp -> 127.0.0.1:") and int(line.rsplit(":", 1)[1]) > 0
    finally:
        box.remove(force=True)


def test_table_looks_like_the_cli():
    text = C.table([{"name": "a", "state": "running"}, {"name": "bb", "state": "paused"}], ["name", "state"])
    assert text.splitlines() == ["name   state", "a      running", "bb     paused"]
    assert C.table([], ["name"]).splitlines()[-1] == "(none)"


def test_interactive_session_and_detach(cli):
    c = cli.containers.create("debian", "bash", name=resource_name("t-it"), stdin_open=True, tty=True,
                              labels=labels())
    c.start()
    text = C.interactive(c, ["echo $((6*7))"], detach_after=True)
    assert "42" in text and "detached" in text
    c.reload()
    assert c.status == "running"
    C.interactive(c.name, ["exit"])

    def exited():
        c.reload()
        return c.status == "exited"

    helpers.core.errors.wait_for(exited, timeout=10, what="the shell to exit")
    plain = cli.containers.run("debian", ["sleep", "30"], detach=True, labels=labels())
    with pytest.raises(WorkbookError, match="-i and -t"):
        C.interactive(plain, ["ls"])
    for box in (c, plain):
        box.remove(force=True)


def test_namespaces_are_the_containers_own(sleeper):
    rows = {r["namespace"]: r for r in I.namespaces(sleeper)}
    for kind in ("pid", "net", "mnt", "uts", "ipc"):
        assert rows[kind]["shared"].startswith("no"), kind


def test_memory_limit_is_enforced():
    res = I.memory_limit_experiment(limit_mb=64, sizes_mb=(16, 128))
    assert res[0]["exit_code"] == 0 and 15 < res[0]["peak_mb"] < 64
    assert res[1]["oom_killed"] and res[1]["exit_code"] == 137
    assert I.plot_memory(res).axes[0].get_title()


def test_memory_plot_draws_only_what_was_measured():
    """The OOM-killed run measured nothing: it gets a mark saying so, never a bar up to the limit."""
    results = [{"asked_mb": 16, "limit_mb": 64, "exit_code": 0, "oom_killed": False, "peak_mb": 17.0},
               {"asked_mb": 96, "limit_mb": 64, "exit_code": 137, "oom_killed": True, "peak_mb": None}]
    ax = I.plot_memory(results).axes[0]
    shown = [b for b in ax.patches if b.get_visible() and b.get_height() > 0]
    assert [round(b.get_height(), 1) for b in shown] == [17.0]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "OOM killer" in texts and "no peak measured" in texts and "17.0 MB" in texts


def test_cpu_limit_is_enforced():
    r = I.cpu_limit_experiment(cpus=0.5, seconds=1.5)
    assert 0.05 < r["share"] <= 0.52  # never above the ceiling (a rounding of one period at most)
    assert r["quota_ms"] == 50 and r["period_ms"] == 100
    assert r["periods"] is None or r["throttled"] <= r["periods"]


def test_cpu_share_is_measured_against_the_periods_that_went_by():
    """The share divides the CPU time by the wall time of the periods counted (22 periods = 2.2 s)."""
    r = I.cpu_limit_experiment(cpus=0.5, seconds=1.0)
    if r["periods"]:
        assert r["wall_s"] == pytest.approx(r["periods"] * r["period_ms"] / 1000)
        assert r["cpu_s"] <= r["periods"] * r["quota_ms"] / 1000 * 1.05
    assert r["share"] == pytest.approx(r["cpu_s"] / r["wall_s"])


def test_start_times_measured():
    samples = I.measure_start_times(3)
    assert len(samples) == 3 and all(0 < s["start_s"] < 30 for s in samples)
    assert I.median(samples, "run_s") >= I.median(samples, "start_s")
    assert I.plot_start_times(samples).axes[0].get_ylabel() == "time (ms)"


def test_notebook_09_shell_quoting_cell_renders():
    """The cell on what the host shell does before Docker runs: every backtick shows up inside code,
    none breaks a code span (no escaped backticks left in the markdown)."""
    from pathlib import Path

    import nbformat
    from markdown_it import MarkdownIt

    path = Path(__file__).resolve().parent.parent / "notebooks" / "09-containers-and-docker.ipynb"
    cell = next(c for c in nbformat.read(path, as_version=4).cells if c.get("id") == "87001588")
    assert "\\`" not in cell.source
    html = MarkdownIt("commonmark").render(cell.source)
    assert "<code>docker container run -d --name c3 debian /bin/bash -c &quot;while true; do echo `date`; sleep 5s; done&quot;" in html
    assert "<code>'while true; do echo `date`; sleep 5s; done'</code>" in html
    import re

    assert "`" not in re.sub(r"<code>.*?</code>", "", html, flags=re.S)  # no stray backtick shown as text
