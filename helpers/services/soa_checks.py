"""The check of notebook 01's exercise: a stateless visit counter, two instances in their own processes,
behind a real :class:`~helpers.services.intermediaries.LoadBalancer`."""

from __future__ import annotations

import socket

import requests

from helpers.core import servers
from helpers.core.errors import wait_for
from helpers.core.verdict import Verdict
from helpers.services.intermediaries import LoadBalancer
from helpers.services.shop import KeyValueStore, store_path


class _ForkedInstance:
    """One instance of a student's app served by Werkzeug in a forked child process.

    The checker needs each instance in its own process, as in production: two
    apps served by threads of the kernel would share the notebook's global
    variables, and a counter kept in a global would pass as "stateless".
    Forking copies the app (a closure defined in the notebook cannot be sent
    to a fresh interpreter); the child only serves HTTP and never touches the
    kernel's sockets.
    """

    def __init__(self, app, label: str):
        import multiprocessing

        self.label = label
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((servers.LOOPBACK, 0))  # bound in the parent: the port is known and taken before the fork
        sock.listen(64)
        self.url = f"http://{servers.LOOPBACK}:{sock.getsockname()[1]}"
        self.process = multiprocessing.get_context("fork").Process(
            target=_serve_forked, args=(app, sock), name=f"exercise-{label}", daemon=True)
        self.process.start()
        sock.close()  # the child holds its own copy

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)


def _serve_forked(app, sock) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log(self, *args, **kwargs):  # the kernel's output streams are not ours to write to
            pass

    host, port = sock.getsockname()
    make_server(host, port, app, threaded=True, request_handler=Quiet, fd=sock.fileno()).serve_forever()


def _visit_methods(app) -> set[str] | None:
    """The methods of the rules for ``/visits`` of a Flask app (None when ``app`` is not a Flask app)."""
    url_map = getattr(app, "url_map", None)
    if url_map is None:
        return None
    return {m for rule in url_map.iter_rules() if rule.rule.rstrip("/") == "/visits" for m in rule.methods}


def check_stateless_counter(create_app, *, requests_total: int = 6) -> Verdict:
    """Checker for notebook 01: ``create_app(store)`` must return a stateless counter service.

    The service answers ``POST /visits`` with ``{"visits": <count after this visit>}``
    and ``GET /visits`` with ``{"visits": <count>}``.  The check runs two
    instances of your app, each in its own process (so nothing kept in a
    Python variable, global or not, is shared), behind a real
    :class:`LoadBalancer`, with a store of its own emptied first; it counts
    visits through the balancer, reads each instance directly, then stops
    one instance and visits again.  Returns a :class:`~helpers.core.verdict.Verdict`.
    """
    v = Verdict("Exercise: a stateless visit counter behind a load balancer")
    routes_hint = ("Add @app.post('/visits') returning {'visits': store.incr('visits')} and "
                   "@app.get('/visits') returning {'visits': store.get('visits', 0)}.")
    if not callable(create_app):
        return v.not_attempted(f"create_counter_app is {create_app!r}, not a function.",
                               hint="Define create_counter_app(store) in the cell above and run it.")
    kv = KeyValueStore(store_path("exercise-store"))
    kv.clear()  # a count left by an earlier run of the check must not count
    try:
        apps = [create_app(kv), create_app(kv)]
    except Exception as exc:
        v.fail(f"create_counter_app(store) raised {type(exc).__name__}: {exc}",
               hint="Call create_counter_app(shop.KeyValueStore(shop.store_path('try'))) yourself and read the traceback.")
        return v
    if any(a is None for a in apps):
        return v.not_attempted("create_counter_app(store) returned None: there is no app yet.",
                               hint="Create the app with Flask(...), add the two routes and end with return app.")
    if not all(callable(a) for a in apps):
        v.fail(f"create_counter_app(store) should return a Flask app; it returned a {type(apps[0]).__name__}.",
               hint="End the factory with return app (the object made by Flask(...)).")
        return v
    methods = _visit_methods(apps[0])
    if methods is not None and not methods:
        return v.not_attempted("The app has no route for /visits yet.", hint=routes_hint)
    inst = [_ForkedInstance(a, label) for a, label in zip(apps, "AB")]
    lb = LoadBalancer([(s.label, s.url) for s in inst], name="exercise-balancer").start()
    try:
        for s in inst:  # each child is serving once its port answers
            wait_for(lambda: servers.port_is_open(int(s.url.rsplit(":", 1)[1])), timeout=10,
                     what=f"exercise instance {s.label} to start")
        seen = []
        for _ in range(requests_total):
            try:
                r = requests.post(lb.url + "/visits", timeout=3)
                seen.append(r.json().get("visits") if r.ok else f"status {r.status_code}")
            except (requests.RequestException, ValueError, AttributeError):
                seen.append("no JSON")
        expected = list(range(1, requests_total + 1))
        if "status 404" in seen or "status 405" in seen:
            hint = ("404 means no route matches POST /visits, 405 that the route exists but not for POST: "
                    "give the counting route methods=['POST'] (or use @app.post). " + routes_hint)
        elif all(isinstance(n, int) for n in seen) and seen != expected and max(seen) < requests_total:
            hint = ("Each instance counted only the visits it received itself, so the count lives in the "
                    "instance's process (a variable, global or not); keep it in store: store.incr('visits').")
        elif "no JSON" in seen:
            hint = "Answer with a dict such as {'visits': n}: Flask sends it as JSON."
        else:
            hint = "Return the count after this visit: {'visits': store.incr('visits')}."
        v.add(seen == expected, f"{requests_total} POST /visits through the balancer count 1..{requests_total} "
                                f"(got {seen})", hint=hint)
        alone = []
        for s in inst:
            try:
                r = requests.get(s.url + "/visits", timeout=3)
                got = r.json().get("visits") if r.ok else f"status {r.status_code}"
            except (requests.RequestException, ValueError, AttributeError):
                got = "no JSON"
            alone.append(got)
        for s, got in zip(inst, alone):
            hint = None
            if isinstance(got, str) and got.startswith("status"):
                hint = f"GET /visits answered {got[7:]}: add @app.get('/visits') returning {{'visits': store.get('visits', 0)}}."
            elif got != requests_total and all(isinstance(n, int) for n in alone) and len(set(alone)) > 1:
                hint = ("The two instances disagree: each reads a count of its own, so it lives in the instance's "
                        "process; read it from store: store.get('visits', 0).")
            v.add(got == requests_total, f"instance {s.label} alone reports visits = {requests_total} (got {got!r})",
                  hint=hint)
        inst[0].stop()
        lb.note("stopped A")
        try:
            r = requests.post(lb.url + "/visits", timeout=5)
            got = r.json().get("visits") if r.ok else f"status {r.status_code}"
        except (requests.RequestException, ValueError, AttributeError):
            got = "no JSON"
        v.add(got == requests_total + 1, f"after instance A stops, the next visit is number {requests_total + 1} "
                                         f"(got {got!r})",
              hint="What A counted must survive A: keep the count in store, not in the process.")
    finally:
        lb.stop()
        for s in inst:
            s.stop()
    return v

