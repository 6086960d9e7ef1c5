"""Consuming a service with ``requests`` (notebook 06, §2.5.5): a slow service and the exercise checker.

* :func:`create_slow_app` – a service whose answers take as long as you ask
  (``GET /slow?seconds=2``), to see timeouts for real.
* :func:`compare_session` – bare GETs against a session: time and TCP connections opened.
* :func:`check_tasks_client` – the checker of notebook 06: it runs a fresh
  reference tasks service (:mod:`helpers.tasks_service`) and drives the
  student's client functions against it with real HTTP, case by case.
"""

from __future__ import annotations

import socket
import threading
import time

import requests

from . import servers
from .errors import WorkbookError
from .rawhttp import report_cases


def create_slow_app():
    """``GET /slow?seconds=S`` answers after S seconds (at most 10); ``GET /fast`` at once."""
    from flask import Flask, jsonify, request

    app = Flask("slow")

    @app.get("/slow")
    def slow():
        try:
            seconds = min(float(request.args.get("seconds", "1")), 10.0)
        except ValueError:
            return jsonify(error="seconds must be a number"), 400
        time.sleep(max(seconds, 0))
        return jsonify(slept=seconds)

    @app.get("/fast")
    def fast():
        return jsonify(slept=0)

    return app


def compare_session(url: str, n: int = 100, timeout: float = 5) -> dict:
    """GET ``url`` ``n`` times with bare ``requests.get``, then ``n`` times through one ``requests.Session``.

    Returns, for each way, the median ms per GET and how many TCP connections
    were opened (counted where urllib3 connects its sockets), plus the
    server's ``Connection`` header.
    """
    import statistics

    from urllib3.util import connection as urllib3_connection

    opened = [0]
    real_connect = urllib3_connection.create_connection

    def counting_connect(*args, **kwargs):
        opened[0] += 1
        return real_connect(*args, **kwargs)

    def measure(get) -> tuple[float, int]:
        times, opened[0] = [], 0
        for _ in range(n):
            started = time.perf_counter()
            get(url, timeout=timeout).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times), opened[0]

    urllib3_connection.create_connection = counting_connect
    try:
        bare_ms, bare_connections = measure(requests.get)
        with requests.Session() as session:
            session.headers.update({"Accept": "application/json", "User-Agent": "workbook-client/1.0"})
            session_ms, session_connections = measure(session.get)
            connection = session.get(url, timeout=timeout).headers.get("Connection", "(not sent: keep-alive)")
    except requests.RequestException as exc:
        raise WorkbookError(f"GET {url} failed ({type(exc).__name__}): is the server running?") from None
    finally:
        urllib3_connection.create_connection = real_connect
    return {"bare_ms": bare_ms, "bare_connections": bare_connections, "session_ms": session_ms,
            "session_connections": session_connections, "connection_header": connection}


class _SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers: a service that hangs.

    A client without a timeout waits on it forever; :meth:`stop` closes every
    connection, which wakes such a client up with a connection error.
    """

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((servers.LOOPBACK, 0))
        self.sock.listen(16)
        self.url = f"http://{servers.LOOPBACK}:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="silent-server").start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            self.conns.append(conn)

    def stop(self):
        for s in [self.sock, *self.conns]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _gives_up(fn, *args, patience: float = 10.0) -> bool:
    """Does ``fn(*args)`` against a service that never answers return (or raise) within ``patience`` seconds?"""
    silent = _SilentServer()
    worker = threading.Thread(target=lambda: _quietly(fn, silent.url + "/api/v1", *args), daemon=True)
    try:
        worker.start()
        worker.join(patience)
        return not worker.is_alive()
    finally:
        silent.stop()  # wakes up a client that had no timeout
        worker.join(3)


def _quietly(fn, *args):
    try:
        fn(*args)
    except Exception:  # any exception (Timeout above all) means the call gave up: that is what we test
        pass


def check_tasks_client(create_task, complete_task) -> bool:
    """Check the exercise's two client functions against a fresh tasks service.

    * ``create_task(base_url, title)`` creates a task and returns its id (an int);
    * ``complete_task(base_url, task_id)`` marks it done and returns the task (a dict),
      and raises ``requests.HTTPError`` when the task does not exist.

    ``base_url`` is like ``http://127.0.0.1:PORT/api/v1``.  Returns True when every case passes.
    """
    from .tasks_service import create_app

    if not callable(create_task) or not callable(complete_task):
        raise WorkbookError("Pass your two functions: check_tasks_client(create_task, complete_task).")
    cases: list[tuple[bool, str]] = []
    server = servers.serve(create_app(seed=False), name="exercise-tasks")
    base = server.url + "/api/v1"
    try:
        task_id = None
        try:
            task_id = create_task(base, "Water the plants")
            cases.append((isinstance(task_id, int) and not isinstance(task_id, bool),
                          f"create_task returns the new id as an int (got {task_id!r})"))
        except Exception as exc:
            cases.append((False, f"create_task raised {type(exc).__name__}: {exc}"))
        if isinstance(task_id, int):
            r = requests.get(f"{base}/tasks/{task_id}", timeout=3)
            title = r.json().get("title") if r.ok else None
            cases.append((r.ok and title == "Water the plants",
                          f"the service has task {task_id} titled 'Water the plants' (GET answered {r.status_code}, title {title!r})"))
            try:
                done = complete_task(base, task_id)
                cases.append((isinstance(done, dict) and done.get("done") is True,
                              f"complete_task returns the task with done = true (got {done!r})"))
            except Exception as exc:
                said = ""
                if isinstance(exc, requests.HTTPError) and exc.response is not None:
                    said = f"; the service said: {exc.response.text.strip()[:160]}"
                cases.append((False, f"complete_task raised {type(exc).__name__}: {exc}{said}"))
            r = requests.get(f"{base}/tasks/{task_id}", timeout=3)
            stored = r.json() if r.ok else {}
            cases.append((stored.get("done") is True, "the service now stores the task as done"))
            cases.append((stored.get("title") == "Water the plants",
                          f"completing the task keeps its title (the service now has {stored.get('title')!r}): "
                          f"change only what must change"))
            others = requests.get(f"{base}/tasks", timeout=3).json()
            cases.append((len(others) == 1, f"exactly one task exists (found {len(others)}): create_task is called once, "
                                             f"so it must create exactly one"))
        try:
            result = complete_task(base, 999999)
            cases.append((False, f"complete_task on a missing task raises requests.HTTPError (it returned {result!r})"))
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            cases.append((code == 404, f"complete_task on a missing task raises requests.HTTPError for a 404 (got {code})"))
        except Exception as exc:
            cases.append((False, f"complete_task on a missing task raises requests.HTTPError (it raised {type(exc).__name__})"))
        gave_up = _gives_up(create_task, "Hanging")
        cases.append((gave_up, "create_task gives up within 10 s when a service accepts the connection but never answers"
                               + ("" if gave_up else " (it was still waiting: requests waits forever unless told otherwise)")))
        recorded = [(r.method, r.path, r.status) for r in server.log]
        cases.append((not any(s >= 500 for _, _, s in recorded), "no request caused a server error (5xx)"))
    finally:
        server.stop()
    return report_cases(cases)
