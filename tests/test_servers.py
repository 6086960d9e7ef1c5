"""Background servers: real sockets on loopback, clean restarts, one-sentence errors."""

from __future__ import annotations

import socket
import sys

import pytest
import requests
from flask import Flask

from helpers.core import servers
from helpers.core.errors import AlreadyInUse, WaitTimeout, WorkbookError


def hello_app(text="hello"):
    app = Flask(__name__)
    app.get("/")(lambda: text)
    return app


def test_serve_binds_loopback_on_a_free_port_and_logs_requests():
    with servers.serve(hello_app(), name="t-basic") as srv:
        assert srv.host == "127.0.0.1" and srv.port > 0
        assert requests.get(srv.url + "/?x=1", timeout=5).text == "hello"
        assert [(r.method, r.path, r.status) for r in srv.log] == [("GET", "/?x=1", 200)]
    assert not servers.port_is_open(srv.port)
    assert "t-basic" not in servers.running()


def test_serving_the_same_name_again_restarts_cleanly():
    first = servers.serve(hello_app("one"), name="t-restart")
    second = servers.serve(hello_app("two"), name="t-restart")
    try:
        assert not first.running and second.running
        assert requests.get(second.url, timeout=5).text == "two"
    finally:
        second.stop()
        second.stop()  # stopping twice is harmless


def test_an_occupied_port_is_one_sentence():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(AlreadyInUse, match=rf"^Port {port} on 127.0.0.1 is already in use"):
            servers.serve(hello_app(), name="t-busy", port=port)
        with pytest.raises(AlreadyInUse):
            servers.serve_process([sys.executable, "-m", "http.server", str(port)], name="t-busy-p", port=port)


def test_serve_rejects_something_that_is_not_an_app():
    with pytest.raises(WorkbookError, match="needs a WSGI application"):
        servers.serve("not an app", name="t-bad")


def test_serve_process_runs_a_child_server_and_stops_it():
    port = servers.free_port()
    srv = servers.serve_process([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                                name="t-child", port=port)
    try:
        assert requests.get(srv.url, timeout=5).status_code == 200
        assert srv.process.poll() is None
    finally:
        srv.stop()
    assert srv.process.poll() is not None and not servers.port_is_open(port)


def test_a_child_that_dies_early_is_reported_with_its_last_words():
    with pytest.raises(WorkbookError, match="exited with code 3 before it was ready: bye"):
        servers.serve_process([sys.executable, "-c", "print('bye'); raise SystemExit(3)"],
                              name="t-dies", port=servers.free_port())


def test_a_missing_program_is_one_sentence():
    with pytest.raises(WorkbookError, match="is not installed here"):
        servers.serve_process(["no-such-program-xyz"], name="t-missing", port=servers.free_port())


def test_a_child_that_never_listens_times_out_with_what_was_awaited():
    with pytest.raises(WaitTimeout, match="server 't-silent' to accept connections"):
        servers.serve_process([sys.executable, "-c", "import time; time.sleep(30)"], name="t-silent",
                              port=servers.free_port(), timeout=1)
    assert "t-silent" not in servers.running()


def test_cleanup_stops_this_sessions_servers():
    import helpers

    srv = servers.serve(hello_app(), name="t-cleanup")
    removed = helpers.cleanup(quiet=True)
    assert "server t-cleanup" in removed and not servers.port_is_open(srv.port)


def test_free_port_below_the_ephemeral_range_is_free_and_below_it():
    for _ in range(5):
        port = servers.free_port(below_ephemeral=True)
        assert 20000 <= port < servers.EPHEMERAL_START
        with socket.socket() as s:
            s.bind((servers.LOOPBACK, port))  # free: it can be bound
