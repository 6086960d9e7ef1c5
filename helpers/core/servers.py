"""Run real HTTP servers on the loopback interface, in the background.

* :func:`serve` runs any WSGI application (a Flask app, say) with
  Werkzeug's server in a thread of the kernel: use it as a context manager
  or as a start/stop pair across cells.  Starting a server with a name that
  is already running stops the old one first, so re-running a cell works.
* :func:`serve_process` runs a server as a child process (a production
  WSGI server, a second instance of a service) and stops it with the
  session.

The port is chosen and bound in the caller's thread: a Werkzeug server
started in a thread on a port that is taken exits silently, so we bind
first and report "port in use" as a sentence instead.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import AlreadyInUse, WaitTimeout, WorkbookError, wait_for

LOOPBACK = "127.0.0.1"


#: Linux's default ephemeral range starts here (``net.ipv4.ip_local_port_range``): the kernel
#: gives the ports of outgoing connections and of ``bind(port 0)`` from 32768 up.
EPHEMERAL_START = 32768


def free_port(host: str = LOOPBACK, *, below_ephemeral: bool = False) -> int:
    """A TCP port that is free on ``host`` right now.

    By default the kernel picks it (``bind`` to port 0), from the ephemeral range.
    ``below_ephemeral=True`` picks one between 20000 and 32000 instead: a port that
    another program (Docker, say) will bind *later* must not be one the kernel may hand
    out meanwhile to an outgoing connection (the clients of a load test open hundreds).
    """
    if below_ephemeral:
        for _ in range(50):
            port = random.randint(20000, EPHEMERAL_START - 768)
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                    return port
                except OSError:
                    continue
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def browser_url(port: int, path: str = "/", host: str = LOOPBACK) -> str:
    """The URL at which the student's browser reaches a server on ``host:port``.

    On a host that is ``http://127.0.0.1:PORT/path``. Under a JupyterHub (the classroom:
    ``JUPYTERHUB_SERVICE_PREFIX`` is set, ``/user/<name>/``) the browser is not on the
    container's loopback: it goes through jupyter-server-proxy, ``/user/<name>/proxy/PORT/path``,
    after the hub's public URL when it is known (``JUPYTERHUB_PUBLIC_URL``).
    """
    path = "/" + path.lstrip("/")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix:
        return f"http://{host}:{port}{path}"
    public = os.environ.get("JUPYTERHUB_PUBLIC_URL", "").rstrip("/")
    return f"{public}/{prefix.strip('/')}/proxy/{port}{path}"


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _port_in_use(port: int, host: str) -> AlreadyInUse:
    return AlreadyInUse(
        f"Port {port} on {host} is already in use (by another program or an earlier server): "
        f"stop that server, choose another port, or leave port=None to get a free one.")


@dataclass
class RequestRecord:
    """One request seen by a server started with :func:`serve`."""

    time: float
    method: str
    path: str
    status: int
    duration_ms: float
    server: str


@dataclass
class Server:
    """A running server: its ``url``, its request ``log``, and ``stop()``."""

    name: str
    host: str
    port: int
    log: list[RequestRecord] = field(default_factory=list)
    _stop: Callable[[], None] | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._stop is not None

    def stop(self) -> None:
        """Stop the server; stopping twice is harmless."""
        stop, self._stop = self._stop, None
        if stop:
            stop()
        if _RUNNING.get(self.name) is self:
            del _RUNNING[self.name]

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def browser_url(self) -> str:
        """Where the student's browser reaches it (through the hub's proxy in a classroom)."""
        return browser_url(self.port, host=self.host)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        shown = self.url if self.browser_url.startswith(self.url) else f"{self.url} (browser: {self.browser_url})"
        return f"<Server {self.name!r} {state} at {shown}>"


_RUNNING: dict[str, Server] = {}
_LOCK = threading.Lock()


def running() -> dict[str, Server]:
    """The servers this session is running, by name."""
    return dict(_RUNNING)


def _logging_middleware(app, server: Server):
    def wrapped(environ, start_response):
        started = time.perf_counter()
        seen = {}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        try:
            return app(environ, recording_start_response)
        finally:
            path = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                path += "?" + environ["QUERY_STRING"]
            server.log.append(RequestRecord(time.time(), environ.get("REQUEST_METHOD", ""), path,
                                            seen.get("status", 0),
                                            (time.perf_counter() - started) * 1000, server.name))
    return wrapped


def serve(app, *, name: str = "app", port: int | None = None, host: str = LOOPBACK,
          threaded: bool = True, timeout: float = 10) -> Server:
    """Serve the WSGI ``app`` at ``http://host:port`` in a background thread.

    ``port=None`` picks a free port.  Returns a :class:`Server`; use it in a
    ``with`` block or call ``.stop()``.  A server already running under the
    same ``name`` is stopped first.
    """
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log(self, *args, **kwargs):  # the server's own log is kept in Server.log
            pass

    if not callable(app):
        raise WorkbookError(f"serve() needs a WSGI application such as a Flask app, not {type(app).__name__}.")
    with _LOCK:
        if name in _RUNNING:
            _RUNNING[name].stop()
        if port and port_is_open(port, host):
            raise _port_in_use(port, host)
        server = Server(name, host, port or 0)
        try:
            httpd = make_server(host, port or 0, _logging_middleware(app, server), threaded=threaded,
                                request_handler=QuietHandler)
        except (OSError, SystemExit):  # werkzeug exits when the port is taken
            raise _port_in_use(port, host) from None
        server.port = httpd.server_port
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                  name=f"server:{name}", daemon=True)
        thread.start()

        def stop():
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout)

        server._stop = stop
        _RUNNING[name] = server
    wait_for(lambda: port_is_open(server.port, host), timeout=timeout,
             what=f"server {name!r} to accept connections on {host}:{server.port}")
    return server


def serve_process(argv: Sequence[str], *, name: str, port: int, host: str = LOOPBACK,
                  env: dict[str, str] | None = None, cwd: str | None = None,
                  timeout: float = 20) -> Server:
    """Start ``argv`` as a child process that serves on ``host:port``; wait until it accepts.

    The child inherits the session, so that a crashed kernel's servers are
    found and stopped by the next session.
    """
    with _LOCK:
        if name in _RUNNING:
            _RUNNING[name].stop()
    if port_is_open(port, host):
        raise _port_in_use(port, host)
    full_env = {**os.environ, **(env or {}), "WORKBOOK_SESSION": session.SESSION_ID}
    try:
        proc = subprocess.Popen(list(argv), env=full_env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        raise WorkbookError(f"The program {argv[0]!r} is not installed here; run the README's set-up command.") from None
    server = Server(name, host, port, process=proc)

    def stop():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc.stdout:
            proc.stdout.close()

    server._stop = stop
    with _LOCK:
        _RUNNING[name] = server

    def ready():
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace").strip().splitlines() if proc.stdout else []
            server.stop()
            raise WorkbookError(f"Server {name!r} exited with code {proc.returncode} before it was ready"
                                + (f": {out[-1]}" if out else "."))
        return port_is_open(port, host)

    try:
        wait_for(ready, timeout=timeout, what=f"server {name!r} to accept connections on {host}:{port}")
    except WaitTimeout:
        server.stop()
        raise
    return server


def stop_all() -> list[str]:
    """Stop every server this session started; returns their names."""
    names = list(_RUNNING)
    for name in names:
        server = _RUNNING.get(name)
        if server:
            server.stop()
    return names


def _owners() -> set[str]:
    return {session.SESSION_ID} if _RUNNING else set()


def _leftovers(sid: str) -> list[str]:
    return [f"server {n} on port {s.port}" for n, s in _RUNNING.items()] if sid == session.SESSION_ID else []


def _remove(sid: str) -> list[str]:
    return [f"server {n}" for n in stop_all()] if sid == session.SESSION_ID else []


CLEANER = Cleaner("servers", _owners, _leftovers, _remove)
