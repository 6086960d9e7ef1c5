"""Measure a local HTTP server: latency distribution and throughput against concurrency.

:func:`run_load` sends a bounded number of GET requests to one URL from
``concurrency`` threads, each with its own keep-alive connection, and
records every request's latency.  The load generator runs in a *separate
Python process*, so that it does not compete for the kernel's GIL with a
server running in the kernel (``helpers.core.servers.serve``).

:func:`sweep` repeats that for several concurrency levels;
:func:`plot_latency`, :func:`plot_throughput` and :func:`results_table`
show the results.

Only loopback addresses (127.0.0.0/8, localhost) can be targets: a load
test is aimed at your own server on this machine, never at someone else's.
Every run is bounded in requests and in time.

Run ``python -m helpers.services.loadtest URL --concurrency 4 --requests 200`` to
print one run's raw latencies as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from helpers.core.errors import WorkbookError

MAX_REQUESTS = 5000
MAX_CONCURRENCY = 64
MAX_SECONDS = 60.0


@dataclass
class LoadResult:
    """One run: ``concurrency`` clients, every latency in milliseconds, errors, wall time."""

    label: str
    url: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        """Successful requests per second over the whole run."""
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile latency in ms (nearest-rank)."""
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        k = max(0, min(len(data) - 1, int(round(p / 100 * len(data) + 0.5)) - 1))
        return data[k]

    def summary(self) -> dict:
        return {"server": self.label, "concurrency": self.concurrency, "requests": self.ok, "errors": self.errors,
                "throughput_rps": round(self.throughput, 1),
                "p50_ms": round(self.percentile(50), 2), "p90_ms": round(self.percentile(90), 2),
                "p99_ms": round(self.percentile(99), 2),
                "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else float("nan")}

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<LoadResult {self.label} c={self.concurrency}: {s['requests']} ok, {s['errors']} errors, "
                f"{s['throughput_rps']} req/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms>")


def _check_target(url: str) -> tuple[str, int, str]:
    from helpers.services.urls import parse_url

    p = parse_url(url)
    if p.scheme != "http":
        raise WorkbookError(f"The load test speaks plain http:// only (got {p.scheme}://).")
    host = p.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise WorkbookError(f"Load tests may only target this machine (127.0.0.1 or localhost), not {host!r}.")
    return host, p.port, p.target


def _check_bounds(concurrency: int, requests_total: int) -> None:
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise WorkbookError(f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY} (got {concurrency!r}).")
    if not isinstance(requests_total, int) or not concurrency <= requests_total <= MAX_REQUESTS:
        raise WorkbookError(f"requests must be a whole number from the concurrency ({concurrency}) "
                            f"to {MAX_REQUESTS} (got {requests_total!r}).")


def _generate(url: str, concurrency: int, requests_total: int, timeout: float, max_seconds: float,
              warmup: int = 2) -> dict:
    """The load generator itself (runs in the child process)."""
    host, port, target = _check_target(url)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = [0]
    lock = threading.Lock()
    remaining = [requests_total]
    deadline = time.monotonic() + max_seconds
    barrier = threading.Barrier(concurrency + 1)

    def one(conn):
        conn.request("GET", target, headers={"Accept": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Connection", "").lower() == "close"

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:  # open the connection and warm up before the clock starts
            for _ in range(warmup):
                _, close = one(conn)
                if close:
                    conn.close()
        except OSError:
            conn.close()
        barrier.wait()
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            try:
                status, close = one(conn)
                took = (time.perf_counter() - started) * 1000
                with lock:
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                    if status < 400:
                        latencies.append(took)
                    else:
                        errors[0] += 1
                if close:
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()  # reconnect on the next request
                with lock:
                    errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join(max_seconds + timeout + 1)
    elapsed = time.perf_counter() - started
    return {"latencies_ms": latencies, "errors": errors[0], "elapsed_s": elapsed, "statuses": statuses}


def run_load(url: str, *, concurrency: int = 1, requests: int = 200, label: str = "",
             timeout: float = 5.0, max_seconds: float = 20.0) -> LoadResult:
    """Send ``requests`` GETs to ``url`` from ``concurrency`` threads; return a :class:`LoadResult`.

    The generator runs in a child process and stops after ``max_seconds``
    whatever happens.  A server that does not answer at all is reported
    as one sentence.
    """
    _check_target(url)
    _check_bounds(concurrency, requests)
    from helpers.core.servers import port_is_open

    host, port, _ = _check_target(url)
    if not port_is_open(port, host):
        raise WorkbookError(f"Nothing accepts connections at {url}: start the server before measuring it.")
    max_seconds = min(float(max_seconds), MAX_SECONDS)
    argv = [sys.executable, "-m", "helpers.services.loadtest", url, "--concurrency", str(concurrency),
            "--requests", str(requests), "--timeout", str(timeout), "--max-seconds", str(max_seconds)]
    env = {**os.environ, "WORKBOOK_NO_SWEEP": "1"}
    try:
        out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=max_seconds + timeout + 30)
    except subprocess.TimeoutExpired:
        raise WorkbookError(f"The load generator did not finish within {max_seconds + timeout + 30:g} s.") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no message"])[-1]
        raise WorkbookError(f"The load generator failed: {last}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    result = LoadResult(label=label or url, url=url, concurrency=concurrency, **data)
    if result.ok == 0:
        raise WorkbookError(f"No request to {url} succeeded ({result.errors} errors, statuses {result.statuses}): "
                            f"check that the URL answers with a 2xx status.")
    return result


def sweep(url: str, concurrencies=(1, 2, 4, 8, 16), *, requests: int = 200, label: str = "",
          progress: bool = True, **kw) -> list[LoadResult]:
    """:func:`run_load` at each concurrency level, in order; returns the results."""
    results = []
    for c in concurrencies:
        r = run_load(url, concurrency=c, requests=max(requests, c), label=label, **kw)
        if progress:
            print(f"{label or url}: {c:>2} concurrent clients -> {r.throughput:7.1f} req/s, "
                  f"p50 {r.percentile(50):6.2f} ms, p99 {r.percentile(99):6.2f} ms, errors {r.errors}")
        results.append(r)
    return results


def reading(sweeps: dict[str, list[LoadResult]]) -> str:
    """A plain-text reading of a sweep: service time at one client, peak throughput, Little's law.

    Little's law for a closed loop: clients = throughput x time per request,
    so the mean latency should be close to concurrency / throughput.
    """
    lines = []
    for name, results in sweeps.items():
        best = max(results, key=lambda r: r.throughput)
        one = results[0]
        lines.append(f"{name}: alone, a request takes {one.summary()['mean_ms']:.2f} ms on average "
                     f"(p50 {one.percentile(50):.2f} ms), so one client gets {one.throughput:.0f} req/s;")
        lines.append(f"   peak {best.throughput:.0f} req/s with {best.concurrency} concurrent client(s).")
        for r in results:
            little = r.concurrency / r.throughput * 1000 if r.throughput else float("nan")
            lines.append(f"   {r.concurrency:>2} clients: mean latency {r.summary()['mean_ms']:6.2f} ms, "
                         f"Little's law predicts {little:6.2f} ms")
    if len(sweeps) == 2:
        lines.append("")
        lines += compare(sweeps)
    return "\n".join(lines)


def compare(sweeps: dict[str, list[LoadResult]]) -> list[str]:
    """Two servers' sweeps compared, from the measurements only: peak throughput and median latency.

    Says which server came out ahead in *this* run, so that a notebook's text
    never has to claim an outcome that another run (another machine, another
    load) may contradict.
    """
    (a, ra), (b, rb) = sweeps.items()
    peak_a, peak_b = (max(r.throughput for r in rs) for rs in (ra, rb))
    lines = []
    if peak_a:
        ratio = peak_b / peak_a
        verdict = "higher than" if ratio > 1.05 else "lower than" if ratio < 1 / 1.05 else "about the same as"
        lines.append(f"In this run {b}'s peak throughput ({peak_b:.0f} req/s) is {ratio:.2f}x {a}'s "
                     f"({peak_a:.0f} req/s): {verdict} it.")
    pairs = [(x, y) for x in ra for y in rb if x.concurrency == y.concurrency]
    if pairs:
        faster = [x.concurrency for x, y in pairs if y.percentile(50) < x.percentile(50)]
        lines.append(f"{b} had the lower median latency at {len(faster)} of the {len(pairs)} concurrency levels"
                     + (f" ({', '.join(map(str, faster))} clients)." if faster else "."))
    return lines


def results_table(sweeps: dict[str, list[LoadResult]]) -> str:
    """An HTML table of every run: throughput and latency percentiles per server and concurrency."""
    head = ("<tr><th>server</th><th>concurrent clients</th><th>requests</th><th>errors</th><th>throughput (req/s)</th>"
            "<th>p50 (ms)</th><th>p90 (ms)</th><th>p99 (ms)</th></tr>")
    rows = ""
    for name, results in sweeps.items():
        for r in results:
            s = r.summary()
            rows += (f"<tr><td>{name}</td><td>{s['concurrency']}</td><td>{s['requests']}</td><td>{s['errors']}</td>"
                     f"<td>{s['throughput_rps']}</td><td>{s['p50_ms']}</td><td>{s['p90_ms']}</td><td>{s['p99_ms']}</td></tr>")
    return f"<table>{head}{rows}</table>"


def plot_throughput(sweeps: dict[str, list[LoadResult]], *, title: str = "Throughput and latency against concurrency"):
    """Two panels: throughput (req/s) and p50/p99 latency (ms) against concurrent clients."""
    import matplotlib.pyplot as plt

    if not sweeps or not all(sweeps.values()):
        raise WorkbookError("There are no results to plot: run sweep() first.")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (name, results) in enumerate(sweeps.items()):
        cs = [r.concurrency for r in results]
        ax1.plot(cs, [r.throughput for r in results], "o-", color=f"C{i}", label=name)
        ax2.plot(cs, [r.percentile(50) for r in results], "o-", color=f"C{i}", label=f"{name} p50")
        ax2.plot(cs, [r.percentile(99) for r in results], "s--", color=f"C{i}", alpha=0.7, label=f"{name} p99")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(cs, [str(c) for c in cs])
        ax.set_xlabel("concurrent clients")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax1.set_ylabel("throughput (requests/s)")
    ax1.set_title("throughput")
    ax1.set_ylim(bottom=0)
    ax2.set_ylabel("latency (ms)")
    ax2.set_title("latency percentiles")
    ax2.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    return fig


def plot_latency(results: dict[str, LoadResult], *, title: str = "Latency distribution"):
    """Histogram and cumulative distribution of the latencies of one run per server."""
    import matplotlib.pyplot as plt

    if not results:
        raise WorkbookError("There are no results to plot: run run_load() first.")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    top = max(r.percentile(99.5) for r in results.values())
    for i, (name, r) in enumerate(results.items()):
        data = sorted(r.latencies_ms)
        ax1.hist([d for d in data if d <= top], bins=40, alpha=0.55, color=f"C{i}", label=f"{name} (c={r.concurrency})")
        ax2.plot(data, [(k + 1) / len(data) * 100 for k in range(len(data))], color=f"C{i}", label=name)
        for p, style in ((50, ":"), (99, "--")):
            ax2.axvline(r.percentile(p), color=f"C{i}", linestyle=style, alpha=0.6)
    ax1.set_xlabel("latency (ms)")
    ax1.set_ylabel("requests")
    ax1.set_title("histogram (up to the 99.5th percentile)")
    ax1.legend(fontsize=8)
    ax2.set_xlabel("latency (ms)")
    ax2.set_ylabel("requests at most this slow (%)")
    ax2.set_title("cumulative distribution (dotted p50, dashed p99)")
    ax2.set_xscale("log")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    plt.show()
    return fig


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Load-test one local URL and print the latencies as JSON.")
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    try:
        _check_bounds(args.concurrency, args.requests)
        data = _generate(args.url, args.concurrency, args.requests, args.timeout, min(args.max_seconds, MAX_SECONDS))
    except WorkbookError as exc:
        sys.exit(str(exc))
    print(json.dumps(data))


if __name__ == "__main__":
    main()
