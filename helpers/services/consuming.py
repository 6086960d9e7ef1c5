"""Consuming a service with ``requests`` (notebook 06, §2.5.5): a slow service and the exercise checker.

* :func:`create_slow_app` – a service whose answers take as long as you ask
  (``GET /slow?seconds=2``), to see timeouts for real.
* :func:`compare_session` – bare GETs against a session: time and TCP connections opened.
* :func:`check_tasks_client` – the checker of notebook 06: it runs a fresh
  reference tasks service (:mod:`helpers.services.tasks`) and drives the
  student's client functions against it with real HTTP, case by case.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import requests

from helpers.core import servers
from helpers.core.verdict import Verdict


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
    finally:  # a requests error propagates as it is: helpers.explain says it in one sentence
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


@dataclass
class GaveUp:
    """What a client function did against a service that accepts the connection and never answers."""

    connected: bool          #: it opened a connection to the service (it made a request)
    finished: bool           #: it returned or raised within the patience
    outcome: str             #: "returned X", "raised ReadTimeout", or "still waiting"


def _gives_up(fn, *args, patience: float = 10.0) -> GaveUp:
    """Run ``fn(base_url, *args)`` against a service that never answers; did it try, and did it give up?"""
    silent = _SilentServer()
    outcome = ["still waiting"]

    def call():
        try:
            outcome[0] = f"returned {fn(silent.url + '/api/v1', *args)!r:.60}"
        except Exception as exc:  # any exception (Timeout above all) means the call gave up
            outcome[0] = f"raised {type(exc).__name__}"

    worker = threading.Thread(target=call, daemon=True)
    try:
        worker.start()
        worker.join(patience)
        finished = not worker.is_alive()
        return GaveUp(connected=bool(silent.conns), finished=finished, outcome=outcome[0] if finished else "still waiting")
    finally:
        silent.stop()  # wakes up a client that had no timeout
        worker.join(3)


def check_tasks_client(create_task, complete_task) -> Verdict:
    """Check the exercise's two client functions against a fresh tasks service.

    * ``create_task(base_url, title)`` creates a task and returns its id (an int);
    * ``complete_task(base_url, task_id)`` marks it done and returns the task (a dict),
      and raises ``requests.HTTPError`` when the task does not exist.

    ``base_url`` is like ``http://127.0.0.1:PORT/api/v1``.  Each criterion is
    judged on what the functions did to the fresh service (its request log)
    and to a second service that never answers.  Returns a
    :class:`~helpers.core.verdict.Verdict`.
    """
    from helpers.services.tasks import create_app

    v = Verdict("Exercise: a client for the tasks service")
    if not callable(create_task) or not callable(complete_task):
        return v.not_attempted("Pass your two functions: check_tasks_client(create_task, complete_task).",
                               hint="Define create_task(base_url, title) and complete_task(base_url, task_id) above.")
    app = create_app(seed=False)
    server = servers.serve(app, name="exercise-tasks")
    base = server.url + "/api/v1"
    # The check reads the service's state through the app itself, not over HTTP, so that the
    # server's request log holds the students' requests only: each criterion is judged on them.
    reader = app.test_client()

    def made_request(since: int) -> bool:
        return len(server.log) > since

    def tasks_now() -> list:
        return reader.get("/api/v1/tasks?limit=1000").get_json()

    try:
        task_id, raised = None, None
        try:
            task_id = create_task(base, "Water the plants")
        except Exception as exc:
            raised = exc
        create_requests = len(server.log)
        done, done_raised = None, None
        if raised is None and create_requests == 0 and task_id is None:
            # create_task did nothing: is complete_task written?
            try:
                done = complete_task(base, 1)
            except Exception as exc:
                done_raised = exc
            if not made_request(create_requests) and done is None and done_raised is None:
                return v.not_attempted("create_task and complete_task returned None without sending any request "
                                       "to the service.",
                                       hint="In create_task, POST the title with requests.post(f'{base_url}/tasks', "
                                            "json={'title': title}, timeout=5) and return response.json()['id'].")
        if raised is not None:
            v.fail(f"create_task raised {type(raised).__name__}: {raised}",
                   hint="Call create_task yourself against the notebook's service and read the traceback.")
        elif create_requests == 0:
            v.fail(f"create_task sent no request to the service it was given (it returned {task_id!r}).",
                   hint="POST to f'{base_url}/tasks' with json={'title': title} and a timeout.")
        else:
            v.add(isinstance(task_id, int) and not isinstance(task_id, bool),
                  f"create_task returns the new id as an int (got {task_id!r:.80})",
                  hint="The service answers the created task as JSON: return response.json()['id'].")
        created = tasks_now()
        v.add(len(created) == 1 and created[0].get("title") == "Water the plants",
              f"create_task created exactly one task titled 'Water the plants' (the service has "
              f"{len(created)} task(s){': ' + repr(created[0].get('title')) if created else ''})",
              hint="Send the title the function receives, in one POST: json={'title': title}.")
        if isinstance(task_id, int) and any(t.get("id") == task_id for t in created):
            before = len(server.log)
            try:
                done = complete_task(base, task_id)
                done_raised = None
            except Exception as exc:
                done, done_raised = None, exc
            if done_raised is not None:
                said = ""
                if isinstance(done_raised, requests.HTTPError) and done_raised.response is not None:
                    said = f"; the service said: {done_raised.response.text.strip()[:160]}"
                v.fail(f"complete_task raised {type(done_raised).__name__}: {done_raised}{said}",
                       hint="Change only the field done: requests.patch(f'{base_url}/tasks/{task_id}', "
                            "json={'done': True}, timeout=5).")
            elif not made_request(before):
                v.fail(f"complete_task sent no request to the service (it returned {done!r:.80}).",
                       hint="Send the change with requests.patch(f'{base_url}/tasks/{task_id}', json={'done': True}, timeout=5).")
            else:
                v.add(isinstance(done, dict) and done.get("done") is True,
                      f"complete_task returns the task with done = true (got {done!r:.120})",
                      hint="Return the task the service answers: response.json().")
            r = reader.get(f"/api/v1/tasks/{task_id}")
            stored = r.get_json() if r.status_code == 200 else {}
            if made_request(before):
                v.add(stored.get("done") is True, "the service now stores the task as done",
                      hint="Send done as the JSON boolean true: json={'done': True}.")
                v.add(stored.get("title") == "Water the plants",
                      f"completing the task keeps its title (the service now has {stored.get('title')!r})",
                      hint="PUT replaces the whole task; PATCH changes only what must change.")
        before = len(server.log)
        try:
            result = complete_task(base, 999999)
            if made_request(before):
                v.fail(f"complete_task on a missing task raises requests.HTTPError (it returned {result!r:.80})",
                       hint="Call response.raise_for_status() before using the body.")
            else:
                v.fail(f"complete_task on a missing task sent no request (it returned {result!r:.80})",
                       hint="Send the PATCH, then call response.raise_for_status().")
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            v.add(code == 404, f"complete_task on a missing task raises requests.HTTPError for a 404 (got {code})")
        except Exception as exc:
            v.fail(f"complete_task on a missing task raises requests.HTTPError (it raised {type(exc).__name__}: {exc})",
                   hint="Let raise_for_status() raise; do not replace its exception with another one.")
        hanging = _gives_up(create_task, "Hanging")
        if not hanging.connected:
            v.fail(f"create_task made no request to a service that never answers (it {hanging.outcome}), so it "
                   "could not show that it gives up", hint="Send the POST to the base_url the function receives.")
        else:
            v.add(hanging.finished, "create_task gives up within 10 s when a service accepts the connection but never "
                                    f"answers (it {hanging.outcome})",
                  hint="requests waits forever unless told otherwise: pass timeout=5 to every call.")
        recorded = [(r.method, r.path, r.status) for r in server.log]
        errors = [f"{m} {path} -> {st}" for m, path, st in recorded if st >= 500]
        if recorded:
            v.add(not errors, f"no request caused a server error (5xx) among the {len(recorded)} your functions sent"
                              + (f": {', '.join(errors[:3])}" if errors else ""))
    finally:
        server.stop()
    return v
