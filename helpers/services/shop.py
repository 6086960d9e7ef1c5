"""A service as real processes (notebook 01, §2.1-2.4): the "shop", its external state, composition, discovery.

* :func:`create_service_app` is a small "shop" service (a Flask app factory):
  a greeting and shopping carts.  Stateless by default: the carts live in an
  external :class:`KeyValueStore` (a SQLite file that every instance shares).
  With ``stateful=True`` they live in the memory of the process instead.
* :func:`start_instances` runs several instances, each as its own process
  served by waitress on 127.0.0.1 (so stopping one is a real failure).
* :func:`follow_order` polls an order accepted asynchronously until it is ready.
* :func:`create_composite_app` and :func:`discover` make the composition and
  discovery principles concrete.

Run as ``python -m helpers.services.shop --name A --port 8001 [--stateful] [--store F]``
to serve one instance (that is what :func:`start_instances` does).  The intermediary in
front of the instances is :mod:`helpers.services.intermediaries`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from helpers.core import servers, session
from helpers.core.errors import WorkbookError

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
        status = requests.get(url, timeout=3).json().get("status", "?")  # an error propagates: helpers.explain says it
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
        argv = [os.sys.executable, "-m", "helpers.services.shop", "--name", label, "--port", "{port}", "--store", str(path)]
        if stateful:
            argv.append("--stateful")
        port = servers.free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        server = servers.serve_process(argv, name=f"{prefix}-{label}", port=port, env={"WORKBOOK_NO_SWEEP": "1"})
        server.label = label
        started.append(server)
    return started



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
