"""An intermediary (notebook 01, §2.3-2.4): a load balancer in front of the shop's instances, and what it shows.

* :class:`LoadBalancer` is an intermediary running as a real HTTP server in
  the kernel: it forwards each request round-robin to one instance, logs it,
  skips an instance that stopped answering (failover), and answers 503 when
  none is left.  ``active=False`` (passive) forwards the content unchanged;
  ``active=True`` also compresses bodies with gzip for clients that accept it,
  i.e. it changes the message.
* :func:`consume` is a consumer sending many requests; :func:`median_ms` times one request
  repeated; :func:`plot_spread` shows how requests spread over the instances.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass

import requests

from helpers.core import servers
from helpers.core.errors import WorkbookError

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
    from helpers.services.urls import parse_url

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
            s.request(method, url, timeout=timeout, **kwargs).raise_for_status()
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

