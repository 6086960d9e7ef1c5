"""helpers.containers.lifecycle against the real Docker engine."""

from __future__ import annotations

import pytest

import helpers
from helpers.containers import lifecycle as C
from helpers.core.errors import AlreadyInUse, NotFound, WorkbookError

pytestmark = pytest.mark.docker



@pytest.fixture
def sleeper():
    c = C.run("debian", ["sleep", "infinity"], name=C.name("t-sleeper"), detach=True)
    yield c
    C.remove(c.name, force=True) if C.state(c.name) != "removed" else None


def test_name_is_session_scoped():
    assert C.name("web") == f"wb-{helpers.SESSION_ID}-web"


def test_whole_lifecycle_and_states():
    c = C.create("debian", ["sleep", "infinity"], name=C.name("t-life"))
    assert C.state(c) == "created" and C.owned(c)
    assert C.create("debian", ["sleep", "infinity"], name=C.name("t-life")).id == c.id  # reuse
    assert C.start(c).status == "running"
    assert C.pause(c).status == "paused"
    c.unpause()
    c.stop(timeout=0)
    assert C.state(c) == "exited"
    assert C.remove(c) == c.name
    assert C.state(c.name) == "removed"


def test_lifecycle_errors_are_one_sentence(sleeper):
    C.pause(sleeper)
    with pytest.raises(WorkbookError, match="already paused"):
        C.pause(sleeper)
    with pytest.raises(WorkbookError, match="unpause it instead"):
        C.start(sleeper)
    with pytest.raises(WorkbookError, match="still running"):
        C.remove(sleeper)
    sleeper.unpause()
    sleeper.stop(timeout=0)
    with pytest.raises(WorkbookError, match="not running"):
        C.pause(sleeper)


def test_unknown_container_and_name_in_use(sleeper):
    with pytest.raises(NotFound, match="no container called"):
        C.get("no-such-container-anywhere")
    with pytest.raises(NotFound):
        C.start("no-such-container-anywhere")
    with pytest.raises(AlreadyInUse, match="already taken"):
        C.create("debian", name=sleeper.name, reuse=False)


def test_missing_image_is_one_sentence():
    with pytest.raises(WorkbookError, match="not on this machine|does not exist"):
        C.create("no-such-image-wb", ["true"])


def test_port_allocated_is_one_sentence():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(AlreadyInUse, match="port is already in use|host port"):
            C.run("debian", ["sleep", "5"], detach=True, ports={"80/tcp": ("127.0.0.1", port)})


def test_run_output_exec_logs_env(sleeper):
    assert C.run_output("debian", ["echo", "hello"]).strip() == "hello"
    res = C.execute(sleeper, ["sh", "-c", "echo $MSG"], environment={"MSG": "from exec"})
    assert res.exit_code == 0 and res.output.strip() == "from exec"
    talker = C.run("debian", ["sh", "-c", "for i in 1 2 3; do echo line $i; done"], detach=True)
    talker.wait(timeout=30)
    assert C.logs(talker, tail=2).split() == ["line", "2", "line", "3"]


def test_interactive_session_and_detach():
    c = C.create("debian", "bash", name=C.name("t-it"), stdin_open=True, tty=True)
    C.start(c)
    text = C.interactive(c, ["echo $((6*7))"], detach_after=True)
    assert "42" in text and "detached" in text
    assert C.state(c) == "running"
    C.interactive(c, ["exit"])
    helpers.core.errors.wait_for(lambda: C.state(c) == "exited", timeout=10, what="the shell to exit")
    plain = C.run("debian", ["sleep", "30"], detach=True)
    with pytest.raises(WorkbookError, match="-i and -t"):
        C.interactive(plain, ["ls"])


def test_namespaces_are_the_containers_own(sleeper):
    rows = {r["namespace"]: r for r in C.namespaces(sleeper)}
    for kind in ("pid", "net", "mnt", "uts", "ipc"):
        assert rows[kind]["shared"].startswith("no"), kind


def test_memory_limit_is_enforced():
    res = C.memory_limit_experiment(limit_mb=64, sizes_mb=(16, 128))
    assert res[0]["exit_code"] == 0 and 15 < res[0]["peak_mb"] < 64
    assert res[1]["oom_killed"] and res[1]["exit_code"] == 137
    assert C.plot_memory(res).axes[0].get_title()


def test_memory_plot_draws_only_what_was_measured():
    """The OOM-killed run measured nothing: it gets a mark saying so, never a bar up to the limit."""
    results = [{"asked_mb": 16, "limit_mb": 64, "exit_code": 0, "oom_killed": False, "peak_mb": 17.0},
               {"asked_mb": 96, "limit_mb": 64, "exit_code": 137, "oom_killed": True, "peak_mb": None}]
    ax = C.plot_memory(results).axes[0]
    shown = [b for b in ax.patches if b.get_visible() and b.get_height() > 0]
    assert [round(b.get_height(), 1) for b in shown] == [17.0]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "OOM killer" in texts and "no peak measured" in texts and "17.0 MB" in texts


def test_cpu_limit_is_enforced():
    r = C.cpu_limit_experiment(cpus=0.5, seconds=1.5)
    assert 0.05 < r["share"] <= 0.52  # never above the ceiling (a rounding of one period at most)
    assert r["quota_ms"] == 50 and r["period_ms"] == 100
    assert r["periods"] is None or r["throttled"] <= r["periods"]


def test_cpu_share_is_measured_against_the_periods_that_went_by():
    """The share divides the CPU time by the wall time of the periods counted (22 periods = 2.2 s)."""
    r = C.cpu_limit_experiment(cpus=0.5, seconds=1.0)
    if r["periods"]:
        assert r["wall_s"] == pytest.approx(r["periods"] * r["period_ms"] / 1000)
        assert r["cpu_s"] <= r["periods"] * r["quota_ms"] / 1000 * 1.05
    assert r["share"] == pytest.approx(r["cpu_s"] / r["wall_s"])


def test_start_times_measured():
    samples = C.measure_start_times(3)
    assert len(samples) == 3 and all(0 < s["start_s"] < 30 for s in samples)
    assert C.median(samples, "run_s") >= C.median(samples, "start_s")
    assert C.plot_start_times(samples).axes[0].get_ylabel() == "time (ms)"


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
