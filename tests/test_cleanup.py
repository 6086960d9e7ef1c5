"""Resource hygiene: clean-up removes exactly a session's objects, and dead sessions are swept."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import docker
import nbformat
import pytest

from helpers.core import cleanup, session
from helpers.containers import engine
from helpers.containers.base_images import ensure_image
from notebook_runner import execute, new_session_id

pytestmark = pytest.mark.docker


@contextlib.contextmanager
def live_session(sid: str):
    """Hold ``sid``'s lock as its kernel would, so that no concurrent sweep treats it as dead."""
    path = session.state_dir() / "sessions" / f"{sid}.lock"
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def _labels(sid: str) -> dict[str, str]:
    return {**session.labels(), session.SESSION_LABEL: sid}


@pytest.fixture
def cli():
    ensure_image("debian", quiet=True)
    return docker.from_env()


def test_cleanup_removes_the_sessions_objects_and_spares_everything_else(cli):
    sid = new_session_id()
    with live_session(sid):
        _cleanup_removes_only(cli, sid)


def _cleanup_removes_only(cli, sid):
    other = session.SESSION_ID  # a live session (this test process), so no sweep removes it
    unlabelled = cli.containers.create("debian", "true", name=f"not-workbook-{uuid.uuid4().hex[:6]}")
    foreign = cli.containers.create("debian", "true", labels=_labels(other))
    net = cli.networks.create(f"wbtest-{sid}", labels=_labels(sid))
    vol = cli.volumes.create(f"wbtest-{sid}", labels=_labels(sid))
    mine = cli.containers.create("debian", "sleep 60", labels=_labels(sid), network=net.name,
                                 volumes={vol.name: {"bind": "/data", "mode": "rw"}})
    mine.start()
    try:
        assert len(cleanup.leftovers(sid)) == 3
        removed = cleanup.cleanup(sid, quiet=True)
        assert sorted(r.split()[0] for r in removed) == ["container", "network", "volume"]
        assert cleanup.leftovers(sid) == []
        unlabelled.reload()  # still there: never touched
        foreign.reload()
        # Running it again finds nothing and does not fail ("already gone" is success).
        assert cleanup.cleanup(sid, quiet=True) == []
    finally:
        unlabelled.remove(force=True)
        foreign.remove(force=True)


KILLED_KERNEL = textwrap.dedent("""
    import helpers, time
    from helpers.containers import engine
    from helpers.core import servers
    from flask import Flask
    c = engine.run("debian", "sleep 300", detach=True, quiet=True)
    engine.client().volumes.create("wbkill-" + helpers.SESSION_ID, labels=helpers.core.session.labels())
    servers.serve_process(["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port}"],
                          name="orphan", port={port})
    print("READY", flush=True)
    time.sleep(300)
""")


def _start_doomed_process(sid: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "WORKBOOK_SESSION": sid, "WORKBOOK_NO_ATEXIT_CLEANUP": "1"}
    code = KILLED_KERNEL.format(python=sys.executable, port=port)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    return proc


def test_a_killed_session_is_swept_and_a_live_one_is_not():
    from helpers.core.servers import free_port, port_is_open

    port = free_port()
    sid = new_session_id()
    proc = _start_doomed_process(sid, port)
    try:
        assert session.is_alive(sid)
        assert cleanup.sweep_dead_sessions(quiet=True).get(sid) is None  # alive: untouched
        kinds = {item.split()[0] for item in cleanup.leftovers(sid)}
        assert kinds == {"container", "volume", "process"}  # the server outlives nothing yet
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert not session.is_alive(sid)
        assert port_is_open(port)  # the orphaned server outlived its kernel
        swept = cleanup.sweep_dead_sessions(quiet=True)
        assert sid in swept
        assert cleanup.leftovers(sid) == []
        assert session.session_processes(sid) == []
        assert not port_is_open(port)
    finally:
        if proc.poll() is None:
            proc.kill()
        cleanup.cleanup(sid, quiet=True)


def test_a_notebook_killed_midway_leaves_nothing_once_a_fresh_kernel_runs_it(tmp_path):
    """SIGKILL a kernel in the middle of a notebook, then run the notebook again cleanly."""
    from jupyter_client.manager import KernelManager

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "import helpers\nfrom helpers.containers import engine",
        "c = engine.run('debian', 'sleep 300', detach=True, quiet=True)",
        "import time; time.sleep(1)",
        "helpers.cleanup()",
    )]
    path = tmp_path / "99-killed.ipynb"
    nbformat.write(nb, path)

    dead_sid = new_session_id()
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env={**os.environ, "WORKBOOK_SESSION": dead_sid, "WORKBOOK_NO_ATEXIT_CLEANUP": "1"})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        for code in nb.cells[:2]:
            reply = kc.execute_interactive(code.source, timeout=120)
            assert reply["content"]["status"] == "ok"
        assert len(cleanup.leftovers(dead_sid)) == 1
        os.kill(km.provisioner.pid, signal.SIGKILL)
        time.sleep(1)
    finally:
        kc.stop_channels()
        km.cleanup_resources()
    assert not session.is_alive(dead_sid)

    nb = execute(path, new_session_id())  # the fresh kernel's `import helpers` sweeps the dead one
    assert cleanup.leftovers(dead_sid) == []
    # ...and says so under the cell that imported helpers, not in a later one
    said = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    assert "earlier session(s) that ended without cleaning up" in said[0], said
    assert not any("earlier session" in text for text in said[1:]), said


def test_the_leak_check_catches_a_deliberately_leaked_container(tmp_path):
    from test_notebooks import assert_nothing_left

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import helpers\nfrom helpers.containers import engine\n"
        "engine.run('debian', 'sleep 300', detach=True, quiet=True)  # and no clean-up")]
    path = tmp_path / "98-leaky.ipynb"
    nbformat.write(nb, path)
    sid = new_session_id()
    execute(path, sid)
    with pytest.raises(AssertionError, match="left resources behind"):
        assert_nothing_left(sid)
    assert cleanup.leftovers(sid) == []  # the check removed it after reporting it


def test_a_child_process_that_imports_helpers_does_not_clean_up_its_parent():
    """A service started by a notebook inherits the session; its exit must not remove the session's objects."""
    sid = new_session_id()
    parent = _start_doomed_process(sid, __import__("helpers.core.servers").core.servers.free_port())
    try:
        child = subprocess.run([sys.executable, "-c", "import helpers; print(helpers.core.session.owns_session())"],
                               env={**os.environ, "WORKBOOK_SESSION": sid}, capture_output=True, text=True,
                               timeout=60)
        assert child.stdout.strip() == "False"
        kinds = {item.split()[0] for item in cleanup.leftovers(sid)}
        assert "container" in kinds and "volume" in kinds
    finally:
        parent.kill()
        parent.wait(10)
        cleanup.cleanup(sid, quiet=True)


@pytest.mark.notebook
def test_a_session_killed_while_another_runs_the_same_notebook_is_swept_and_the_live_one_is_not():
    """Notebook 10 in two sessions; the first is killed while it holds the macvlan lease (eth0's one
    macvlan network exists then).  The second waits for the lease, takes over, removes what the
    dead one left, and passes; sweeps while it runs never touch it."""
    import threading

    from nbclient.exceptions import DeadKernelError

    from helpers.core import leases
    from helpers.containers.networks import default_interface, macvlan_lease
    from notebook_runner import NOTEBOOKS
    from test_notebooks import assert_nothing_left

    path = next(NOTEBOOKS.glob("10-*.ipynb"))
    resource = macvlan_lease(default_interface())
    dead, live = new_session_id(), new_session_id()
    outcome: dict = {}

    def run(sid):
        try:
            execute(path, sid)
            outcome[sid] = "passed"
        except DeadKernelError:
            outcome[sid] = "killed"
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome[sid] = exc

    first = threading.Thread(target=run, args=(dead,))
    first.start()
    time.sleep(5)
    second = threading.Thread(target=run, args=(live,))
    second.start()
    deadline = time.monotonic() + 600
    while not leases.note_path(resource, dead).exists():
        assert time.monotonic() < deadline and first.is_alive(), "the first session never took the macvlan lease"
        time.sleep(0.2)
    assert any(n["Name"].endswith("-lan") for n in engine.summaries(dead)[1])
    os.kill(session.owner_pid(dead), signal.SIGKILL)
    first.join(60)
    assert outcome.get(dead) == "killed"
    swept = cleanup.sweep_dead_sessions(quiet=True)  # while the live session runs
    assert live not in swept
    second.join(900)
    assert outcome.get(live) == "passed", outcome.get(live)
    assert cleanup.leftovers(dead) == [] and not leases.note_path(resource, dead).exists()
    assert_nothing_left(live)


def test_an_object_made_in_a_terminal_with_the_session_label_alone_is_cleaned_up(cli):
    sid = new_session_id()
    with live_session(sid):
        subprocess.run(["docker", "create", "--name", session.resource_name("cli-made", sid),
                        "--label", f"{session.SESSION_LABEL}={sid}", "debian", "true"],
                       check=True, capture_output=True)
        assert cleanup.leftovers(sid) == [f"container {session.resource_name('cli-made', sid)}"]
        assert cleanup.cleanup(sid, quiet=True) and cleanup.leftovers(sid) == []
