"""Services, consumers and intermediaries as real processes (notebook 01, §2.1–2.4).

* :func:`create_service_app` is a small "shop" service (a Flask app factory):
  a greeting and shopping carts.  Stateless by default: the carts live in an
  external :class:`KeyValueStore` (a SQLite file that every instance shares).
  With ``stateful=True`` they live in the memory of the process instead.
* :func:`start_instances` runs several instances, each as its own process
  served by waitress on 127.0.0.1 (so stopping one is a real failure).
* :class:`LoadBalancer` is an intermediary running as a real HTTP server in
  the kernel: it forwards each request round-robin to one instance, logs it,
  skips an instance that stopped answering (failover), and answers 503 when
  none is left.  ``active=False`` (passive) forwards the content unchanged;
  ``active=True`` also compresses bodies with gzip for clients that accept it,
  i.e. it changes the message.
* :func:`plot_spread` shows how requests spread over the instances.
* :func:`create_composite_app` and :func:`discover` make the composition and
  discovery principles concrete; :func:`check_stateless_counter` is the
  checker of notebook 01's exercise.

Run as ``python -m helpers.services.soa --name A --port 8001 [--stateful] [--store F]``
to serve one instance (that is what :func:`start_instances` does).
"""

from __future__ import annotations

import argparse
import atexit
import gzip
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import requests

from helpers.core import servers, session
from helpers.core.errors import WorkbookError, wait_for
from helpers.core.verdict import Verdict

#: How long the shop takes to prepare an order after accepting it (the asynchronous capability).
ORDER_SECONDS = 1.0

#: What every instance says about itself at ``GET /contract`` (standard contract principle).
CONTRACT = {
    "service": "shop",
    "version": "1.0",
    "capabilities": {
        "greet": "GET /hello?name=<text> -> {greeting}",
        "add-to-cart": "POST /carts/<user>/items with JSON {item} -> 201 {user, items}",
        "read-cart": "GET /carts/<user> -> {user, items}",
        "checkout": "POST /carts/<user>/checkout -> 202 {order, status} at once; the order is prepared later: "
                    "poll GET /orders/<order> until status is 'ready'",
    },
    "limits": {"item": "1 to 40 characters"},
    "qos": {"latency_ms_p99": 50, "availability": "99% with two or more instances"},
}


# --------------------------------------------------------------------------- external state
class KeyValueStore:
    """A tiny external store (a SQLite file) that several processes can share.

    Keeping state here instead of in a service's memory is what makes the
    service *stateless*: any instance can answer any request.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=10, isolation_level="IMMEDIATE")
        except sqlite3.Error as exc:
            raise WorkbookError(f"Cannot open the store {self.path}: {exc}.") from None

    def get(self, key: str, default=None):
        """The value stored under ``key`` (any JSON value), else ``default``."""
        db = self._db()
        try:
            row = db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        finally:
            db.close()
        return json.loads(row[0]) if row else default

    def set(self, key: str, value) -> None:
        db = self._db()
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, json.dumps(value)))
        finally:
            db.close()

    def update(self, key: str, fn, default=None):
        """Atomically replace the value with ``fn(old)`` and return the new value."""
        db = self._db()
        try:
            with db:  # IMMEDIATE transaction: one writer at a time, across processes
                row = db.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
                value = fn(json.loads(row[0]) if row else default)
                db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, json.dumps(value)))
        finally:
            db.close()
        return value

    def incr(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the number under ``key`` (0 if absent) and return the result."""
        return self.update(key, lambda n: (n or 0) + by, 0)

    def clear(self) -> None:
        db = self._db()
        try:
            with db:
                db.execute("DELETE FROM kv")
        finally:
            db.close()


_STORE_DIR: Path | None = None


def store_path(name: str = "soa-store") -> Path:
    """A store file of this session, in a temporary folder removed when the kernel exits."""
    global _STORE_DIR
    if _STORE_DIR is None:
        _STORE_DIR = Path(tempfile.mkdtemp(prefix=f"{session.resource_name('stores')}-"))
        atexit.register(shutil.rmtree, _STORE_DIR, True)
    return _STORE_DIR / f"{name}.sqlite"


# --------------------------------------------------------------------------- the service
def create_service_app(name: str = "A", *, stateful: bool = False, store: str | os.PathLike | None = None):
    """The shop service as a Flask app; ``name`` tells the instances apart in replies."""
    from flask import Flask, jsonify, request

    app = Flask(f"shop-{name}")
    memory: dict[str, list[str]] = {}  # used only by the stateful variant
    kv = None if stateful else KeyValueStore(store or store_path())

    def items_of(user: str) -> list[str]:
        return list(memory.get(user, [])) if stateful else kv.get(f"cart:{user}", [])

    @app.get("/")
    def index():
        return jsonify(service="shop", instance=name, pid=os.getpid(),
                       state="in this process's memory" if stateful else "in the external store")

    @app.get("/contract")
    def contract():
        return jsonify(CONTRACT)

    @app.get("/health")
    def health():
        return jsonify(status="ok", instance=name)

    @app.get("/hello")
    def hello():
        who = request.args.get("name", "world")
        return jsonify(greeting=f"Hello, {who}!", instance=name)

    @app.post("/carts/<user>/items")
    def add_item(user):
        data = request.get_json(silent=True)
        item = data.get("item") if isinstance(data, dict) else None
        if not isinstance(item, str) or not 1 <= len(item) <= 40:
            return jsonify(error='send JSON {"item": "<1 to 40 characters>"}', instance=name), 400
        if stateful:
            memory.setdefault(user, []).append(item)
            items = items_of(user)
        else:
            items = kv.update(f"cart:{user}", lambda old: (old or []) + [item], [])
        return jsonify(user=user, items=items, instance=name), 201

    @app.get("/carts/<user>")
    def cart(user):
        return jsonify(user=user, items=items_of(user), instance=name)

    # -- an asynchronous capability: accept now (202), do the work later, let the consumer come back
    def save_order(order_id: str, order: dict) -> None:
        if stateful:
            memory[f"order:{order_id}"] = order
        else:
            kv.set(f"order:{order_id}", order)

    def load_order(order_id: str) -> dict | None:
        return memory.get(f"order:{order_id}") if stateful else kv.get(f"order:{order_id}")

    def prepare(order_id: str, order: dict) -> None:
        save_order(order_id, {**order, "status": "ready", "prepared_by": name})

    @app.post("/carts/<user>/checkout")
    def checkout(user):
        order_id = uuid.uuid4().hex[:8]
        order = {"order": order_id, "user": user, "items": items_of(user), "status": "preparing"}
        save_order(order_id, order)
        worker = threading.Timer(ORDER_SECONDS, prepare, args=(order_id, order))
        worker.daemon = True
        worker.start()
        return jsonify({**order, "instance": name}), 202, {"Location": f"/orders/{order_id}"}

    @app.get("/orders/<order_id>")
    def order_status(order_id):
        order = load_order(order_id)
        if order is None:
            return jsonify(error=f"no order {order_id}", instance=name), 404
        return jsonify({**order, "instance": name})

    return app


def follow_order(url: str, *, every: float = 0.25, timeout: float = 5.0) -> list[tuple[float, str]]:
    """Poll an order's URL until its status is 'ready'; the history as (ms since the first poll, status)."""
    history: list[tuple[float, str]] = []
    started = time.perf_counter()
    while True:
        try:
            status = requests.get(url, timeout=3).json().get("status", "?")
        except (requests.RequestException, ValueError) as exc:
            raise WorkbookError(f"Cannot read the order at {url} ({type(exc).__name__}): is the service running?") from None
        history.append(((time.perf_counter() - started) * 1000, status))
        if status == "ready":
            return history
        if time.perf_counter() - started > timeout:
            raise WorkbookError(f"The order at {url} was not ready after {timeout:.0f} s.")
        time.sleep(every)


def start_instances(n: int = 2, *, stateful: bool = False, prefix: str = "shop",
                    fresh: bool = True) -> list[servers.Server]:
    """Start ``n`` instances (named A, B, C...) as separate waitress processes.

    Stateless instances share one store file; ``fresh=True`` empties it first.
    Re-running replaces instances of the same names.
    """
    if not 1 <= n <= 6:
        raise WorkbookError(f"Start between 1 and 6 instances (you asked for {n}): each one is a process of its own.")
    path = store_path(f"{prefix}-store")
    if fresh and not stateful:
        KeyValueStore(path).clear()
    started = []
    for i in range(n):
        label = "ABCDEF"[i]
        argv = [os.sys.executable, "-m", "helpers.services.soa", "--name", label, "--port", "{port}", "--store", str(path)]
        if stateful:
            argv.append("--stateful")
        port = servers.free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        server = servers.serve_process(argv, name=f"{prefix}-{label}", port=port, env={"WORKBOOK_NO_SWEEP": "1"})
        server.label = label
        started.append(server)
    return started


# --------------------------------------------------------------------------- the intermediary
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length", "content-encoding"}


@dataclass
class Forwarded:
    """One line of the balancer's log."""

    n: int
    time: float
    method: str
    path: str
    backend: str
    status: int
    ms: float
    note: str = ""


@dataclass
class Backend:
    name: str
    url: str
    down_until: float = 0.0


class LoadBalancer:
    """A round-robin, logging HTTP intermediary in front of several instances.

    ``backends`` are servers (from :func:`start_instances`) or ``(name, url)``
    pairs.  Call :meth:`start` to serve it on a free port of 127.0.0.1; its
    ``url`` is the only address consumers need to know.
    """

    def __init__(self, backends, *, active: bool = False, name: str = "balancer",
                 timeout: float = 3.0, retry_after: float = 5.0):
        self.backends: list[Backend] = []
        for b in backends:
            if isinstance(b, servers.Server):
                self.backends.append(Backend(getattr(b, "label", b.name), b.url))
            else:
                bname, burl = b
                self.backends.append(Backend(bname, burl.rstrip("/")))
        if not self.backends:
            raise WorkbookError("A load balancer needs at least one instance to forward to.")
        self.active, self.name, self.timeout, self.retry_after = active, name, timeout, retry_after
        self.log: list[Forwarded] = []
        self.events: list[tuple[int, str]] = []
        self.server: servers.Server | None = None
        self._next = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- serving
    def start(self, port: int | None = None) -> "LoadBalancer":
        """Serve the balancer on 127.0.0.1 (``port=None``: a free port); returns itself."""
        self.server = servers.serve(self.wsgi, name=self.name, port=port)
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    @property
    def url(self) -> str:
        if not self.server or not self.server.running:
            raise WorkbookError("The load balancer is not running: call .start() first.")
        return self.server.url

    def note(self, text: str) -> None:
        """Record an event (e.g. "stopped A") at the current position of the log."""
        self.events.append((len(self.log), text))

    def spread(self) -> Counter:
        """How many requests each instance answered."""
        return Counter(f.backend for f in self.log)

    # -- forwarding
    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _order(self) -> list[Backend]:
        with self._lock:
            start = self._next
            self._next = (self._next + 1) % len(self.backends)
        return self.backends[start:] + self.backends[:start]

    def wsgi(self, environ, start_response):
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "/") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                   if k.startswith("HTTP_") and k[5:].replace("_", "-").lower() not in _HOP_BY_HOP}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        client_accepts_gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        headers["Accept-Encoding"] = "identity"  # we forward bodies as they are; gzip is our own decision
        headers["Via"] = f"1.1 {self.name}"
        notes = []
        now = time.monotonic()
        candidates = self._order()
        healthy = [b for b in candidates if b.down_until <= now] or candidates
        for backend in healthy:
            try:
                reply = self._session().request(method, backend.url + path, headers=headers, data=body,
                                                timeout=self.timeout, allow_redirects=False)
            except requests.RequestException:
                backend.down_until = time.monotonic() + self.retry_after
                notes.append(f"{backend.name} did not answer")
                continue
            backend.down_until = 0.0
            out_body = reply.content
            # Our own server writes Date and Server for the hop to the consumer.
            out_headers = [(k, v) for k, v in reply.headers.items()
                           if k.lower() not in _HOP_BY_HOP | {"date", "server"}]
            out_headers.append(("Via", f"1.1 {self.name}"))
            if self.active and client_accepts_gzip and len(out_body) > 0:
                out_body = gzip.compress(out_body)
                out_headers.append(("Content-Encoding", "gzip"))
                notes.append("compressed")
            out_headers.append(("Content-Length", str(len(out_body))))
            self._record(method, path, backend.name, reply.status_code, started, notes)
            start_response(f"{reply.status_code} {reply.reason}", out_headers)
            return [out_body]
        out = json.dumps({"error": "no instance of the service is available", "tried": notes}).encode()
        self._record(method, path, "-", 503, started, notes)
        start_response("503 Service Unavailable", [("Content-Type", "application/json"), ("Retry-After", "5"),
                                                   ("Content-Length", str(len(out)))])
        return [out]

    def _record(self, method, path, backend, status, started, notes):
        with self._lock:
            self.log.append(Forwarded(len(self.log) + 1, time.time(), method, path, backend, status,
                                      (time.perf_counter() - started) * 1000, "; ".join(notes)))

    def log_html(self, last: int = 10, *, with_notes: bool = False) -> str:
        """The last ``last`` lines of the log (only those with a note if ``with_notes``) as an HTML table."""
        lines = [f for f in self.log if f.note] if with_notes else self.log
        rows = "".join(
            f"<tr><td>{f.n}</td><td>{time.strftime('%H:%M:%S', time.localtime(f.time))}</td><td>{f.method}</td>"
            f"<td style='text-align:left'>{f.path}</td><td><b>{f.backend}</b></td><td>{f.status}</td>"
            f"<td>{f.ms:.1f}</td><td style='text-align:left'>{f.note}</td></tr>" for f in lines[-last:])
        return ("<table><tr><th>#</th><th>time</th><th>method</th><th>path</th><th>instance</th>"
                f"<th>status</th><th>ms</th><th>note</th></tr>{rows}</table>")

    def show_log(self, last: int = 10, *, with_notes: bool = False) -> None:
        """Display :meth:`log_html` in the notebook."""
        from IPython.display import HTML, display
        display(HTML(self.log_html(last, with_notes=with_notes)))


def consume(url: str, n: int = 20, path: str = "/hello?name=student", timeout: float = 5) -> list[dict]:
    """A consumer: send ``n`` GET requests to ``url + path``; one dict per reply (or failure)."""
    from helpers.services.rawhttp import parse_url

    parse_url(url)
    out = []
    with requests.Session() as s:
        for _ in range(n):
            try:
                r = s.get(url.rstrip("/") + path, timeout=timeout)
                body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
                out.append({"status": r.status_code, "instance": body.get("instance", "-")})
            except requests.RequestException as exc:
                out.append({"status": 0, "instance": "-", "error": type(exc).__name__})
    return out


def median_ms(method: str, url: str, n: int = 50, timeout: float = 5, **kwargs) -> float:
    """Send the same request ``n`` times over one connection; the median time per request, in ms.

    One request is sent first and not counted (it opens the connection).
    ``kwargs`` go to :meth:`requests.Session.request` (``json=``, ``params=``...).
    """
    import statistics

    times = []
    with requests.Session() as s:
        for i in range(n + 1):
            started = time.perf_counter()
            try:
                s.request(method, url, timeout=timeout, **kwargs).raise_for_status()
            except requests.RequestException as exc:
                raise WorkbookError(f"{method} {url} failed ({type(exc).__name__}): is the instance running?") from None
            if i:
                times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def plot_spread(balancer: LoadBalancer, *, title: str = "How the balancer spread the requests"):
    """Bar chart of requests per instance, and a timeline of who answered each request."""
    import matplotlib.pyplot as plt

    log = balancer.log
    if not log:
        raise WorkbookError("The balancer has not forwarded any request yet: send some first.")
    names = [b.name for b in balancer.backends] + (["-"] if any(f.backend == "-" for f in log) else [])
    counts = balancer.spread()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 3]})
    colours = [("tab:red" if n == "-" else f"C{i}") for i, n in enumerate(names)]
    ax1.bar([n if n != "-" else "none (503)" for n in names], [counts.get(n, 0) for n in names], color=colours)
    ax1.set_xlabel("instance")
    ax1.set_ylabel("requests answered")
    ax1.set_title("requests per instance")
    ys = {n: i for i, n in enumerate(names)}
    for f in log:
        ok = 200 <= f.status < 400
        ax2.scatter(f.n, ys[f.backend], color=colours[ys[f.backend]], marker="o" if ok else "x", s=25)
    for at, text in balancer.events:
        ax2.axvline(at + 0.5, color="grey", linestyle="--")
        ax2.text(at + 0.7, len(names) - 0.6, text, color="grey", fontsize=9, va="top")
    ax2.set_yticks(range(len(names)), [n if n != "-" else "none (503)" for n in names])
    ax2.set_ylim(-0.5, len(names) - 0.4)
    ax2.set_xlabel("request number (in arrival order)")
    ax2.set_ylabel("answered by")
    ax2.set_title("who answered each request (x = error status)")
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    return fig


# --------------------------------------------------------------------------- composition, discovery
def discover(urls: list[str], capability: str, timeout: float = 2) -> list[str]:
    """Run-time discovery: the URLs among ``urls`` whose ``/contract`` offers ``capability``."""
    found = []
    for url in urls:
        try:
            contract = requests.get(url.rstrip("/") + "/contract", timeout=timeout).json()
        except (requests.RequestException, ValueError):
            continue  # not a service that publishes a contract, or not running
        if capability in contract.get("capabilities", {}):
            found.append(url)
    return found


def create_composite_app(shop_url: str):
    """A composite service: ``GET /welcome/<user>`` combines two capabilities of the shop."""
    from flask import Flask, jsonify

    app = Flask("welcome")

    @app.get("/welcome/<user>")
    def welcome(user):
        try:
            greeting = requests.get(f"{shop_url}/hello", params={"name": user}, timeout=3).json()
            cart = requests.get(f"{shop_url}/carts/{user}", timeout=3).json()
        except requests.RequestException:
            return jsonify(error="the shop service is not available"), 503
        n = len(cart["items"])
        return jsonify(message=f"{greeting['greeting']} You have {n} item(s) in your cart.",
                       composed_from=["/hello", f"/carts/{user}"])

    return app


# --------------------------------------------------------------------------- exercise
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
               hint="Call create_counter_app(soa.KeyValueStore(soa.store_path('try'))) yourself and read the traceback.")
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Serve one instance of the shop service with waitress.")
    parser.add_argument("--name", default="A")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", default=None)
    parser.add_argument("--stateful", action="store_true")
    args = parser.parse_args(argv)
    import logging

    from waitress import serve

    logging.getLogger("waitress").setLevel(logging.ERROR)
    app = create_service_app(args.name, stateful=args.stateful, store=args.store)
    serve(app, host=servers.LOOPBACK, port=args.port, threads=4, ident=f"shop-{args.name}")


if __name__ == "__main__":
    main()
