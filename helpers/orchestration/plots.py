"""Pictures of multi-container applications (notebooks 13, 14 and 15).

* :func:`dependency_graph`: the services of a compose file, who depends on
  whom (``depends_on``, with its condition), the networks they share, the
  volumes they mount and the ports they publish, drawn with matplotlib.
* :func:`replica_timeline`: desired versus running replicas of a swarm
  service over time, with the moments something happened.
* :func:`versions_timeline`: replicas per version during a rolling update.
* :func:`request_spread`: how many requests each replica answered.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

from helpers.core.errors import WorkbookError


# --- the dependency graph ---------------------------------------------------------------

def load_compose(source) -> dict:
    """A compose model from a dict (``Project.config()``), a compose file or a folder holding one."""
    import yaml

    if isinstance(source, dict):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / "compose.yaml"
    try:
        model = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise WorkbookError(f"There is no compose file at {path}.") from None
    except yaml.YAMLError as exc:
        raise WorkbookError(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}.") from None
    if not isinstance(model, dict) or not isinstance(model.get("services"), dict):
        raise WorkbookError(f"{path.name} has no services: section, so there is nothing to draw.")
    return model


def _depends(svc: dict) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {d: (v or {}).get("condition", "service_started") for d, v in deps.items()}


def _networks(svc: dict) -> list[str]:
    nets = svc.get("networks")
    if nets is None:
        return ["default"]
    return list(nets) if isinstance(nets, (dict, list)) else []


def _volumes(svc: dict) -> list[tuple[str, str]]:
    """(source, target) of each mount; a source without a slash is a named volume."""
    found = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            found.append((str(v.get("source") or "(anonymous)"), str(v.get("target", ""))))
        else:
            parts = str(v).split(":")
            found.append((parts[0], parts[1]) if len(parts) > 1 else ("(anonymous)", parts[0]))
    return found


def _ports(svc: dict) -> list[str]:
    found = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            found.append(f"{p.get('published', '?')}→{p.get('target')}")
        else:  # "[IP:][HOST_PORT:]CONTAINER_PORT", maybe with ${VAR:-default} inside
            text = re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: os.environ.get(m[1], m[2] or ""), str(p))
            parts = text.split(":")
            found.append(f"{parts[-2] or 'any' if len(parts) > 1 else 'any'}→{parts[-1]}")
    return found


def levels(model: dict) -> dict[str, int]:
    """Each service's level: 0 for services that depend on nothing, else 1 + the deepest dependency."""
    services = model["services"]
    memo: dict[str, int] = {}

    def level(name: str, path: tuple = ()) -> int:
        if name in path:
            raise WorkbookError(f"The services depend on each other in a circle ({' -> '.join(path + (name,))}): "
                                f"Compose cannot decide what to start first.")
        if name not in services:
            raise WorkbookError(f"A depends_on names the service {name!r}, which is not defined.")
        if name not in memo:
            deps = _depends(services[name] or {})
            memo[name] = 1 + max((level(d, path + (name,)) for d in deps), default=-1)
        return memo[name]

    return {name: level(name) for name in services}


def dependency_graph(source, *, title: str = "Services of the compose file and what they depend on", ax=None):
    """Draw the services (boxes, started bottom to top), depends_on arrows (with conditions),
    networks (colours), named volumes (cylinders) and published ports (from the host)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    model = load_compose(source)
    services = model["services"]
    lv = levels(model)
    by_level: dict[int, list[str]] = {}
    for name in sorted(services, key=lambda n: (lv[n], n)):
        by_level.setdefault(lv[name], []).append(name)
    all_nets = sorted({n for s in services.values() for n in _networks(s or {})})
    colours = {n: f"C{i}" for i, n in enumerate(all_nets)}
    width = max(len(v) for v in by_level.values())
    top = max(by_level)
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.8 + 3.0 * width, 2.6 + 1.9 * (top + 1)))
    pos: dict[str, tuple[float, float]] = {}
    for level, names in by_level.items():
        for i, name in enumerate(names):
            pos[name] = ((i - (len(names) - 1) / 2) * 3.2, level * 2.0)
    # depends_on arrows: from the dependent service down to what it needs
    for name, svc in services.items():
        for dep, cond in _depends(svc or {}).items():
            (x1, y1), (x2, y2) = pos[name], pos[dep]
            ax.annotate("", xy=(x2, y2 + 0.38), xytext=(x1, y1 - 0.38),
                        arrowprops=dict(arrowstyle="-|>", color="black", lw=1.4))
            ax.text((x1 + x2) / 2 + 0.1, (y1 + y2) / 2, f"depends_on\n({cond.replace('service_', '')})",
                    fontsize=7.5, ha="left", va="center", color="dimgray")
    for name, (x, y) in pos.items():
        svc = services[name] or {}
        nets = _networks(svc)
        box = FancyBboxPatch((x - 1.2, y - 0.38), 2.4, 0.76, boxstyle="round,pad=0.05",
                             facecolor="white", edgecolor=colours.get(nets[0], "gray") if nets else "gray", lw=2.2)
        ax.add_patch(box)
        build = svc.get("build")
        context = str(build.get("context", ".") if isinstance(build, dict) else build)
        if os.path.isabs(context):  # `compose config` makes the context absolute: show it relative
            context = "./" + Path(context).name
        origin = f"build: {context}" if build else f"image: {svc.get('image', '?')}"
        extras = []
        if svc.get("healthcheck"):
            extras.append("healthcheck")
        replicas = (svc.get("deploy") or {}).get("replicas") or svc.get("scale")
        if replicas:
            extras.append(f"×{replicas}")
        ax.text(x, y + 0.12, name, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x, y - 0.17, origin + ("  · " + ", ".join(extras) if extras else ""),
                ha="center", va="center", fontsize=7.5, color="dimgray")
        for k, net in enumerate(nets[1:]):  # more networks: small coloured tabs
            ax.add_patch(FancyBboxPatch((x + 0.9 - 0.3 * k, y + 0.3), 0.22, 0.12, boxstyle="round,pad=0.01",
                                        facecolor=colours[net], edgecolor="none"))
        for k, (src, target) in enumerate(_volumes(svc)):
            named = "/" not in src and not src.startswith(".")
            vx, vy = x + 1.55, y - 0.1 - 0.45 * k
            ax.add_patch(FancyBboxPatch((vx - 0.02, vy - 0.14), 1.3, 0.28, boxstyle="round,pad=0.04,rounding_size=0.14",
                                        facecolor="#fff4d6" if named else "#eeeeee", edgecolor="#b8860b", lw=1))
            ax.plot([x + 1.2, vx], [vy, vy], color="#b8860b", lw=1)
            ax.text(vx + 0.63, vy, f"{'volume ' if named else 'bind '}{src}\n→ {target}", fontsize=6.5,
                    ha="center", va="center")
        for k, port in enumerate(_ports(svc)):
            ax.annotate(f"host port {port}", xy=(x, y + 0.42), xytext=(x, y + 1.1 + 0.25 * k),
                        ha="center", fontsize=8, color="darkgreen",
                        arrowprops=dict(arrowstyle="-|>", color="darkgreen", lw=1.2))
    for net, colour in colours.items():
        ax.plot([], [], color=colour, lw=3, label=f"network {net}")
    ax.plot([], [], color="black", lw=1.4, label="depends_on (arrow → what starts first)")
    ax.legend(loc="lower left", fontsize=8, frameon=False, bbox_to_anchor=(0, -0.02))
    xs = [p[0] for p in pos.values()]
    ax.set_xlim(min(xs) - 2.0, max(xs) + 3.2)
    ax.set_ylim(-1.4, top * 2.0 + 1.9)
    ax.set_title(title + "\n(started bottom to top; colour = first network)")
    ax.axis("off")
    plt.tight_layout()
    return ax


# --- swarm timelines -------------------------------------------------------------------

def replica_timeline(samples: list[dict], *, title: str = "Desired versus running replicas", ax=None):
    """Step plot of desired and running replicas against time, events marked."""
    import matplotlib.pyplot as plt

    if not samples:
        raise WorkbookError("There are no samples to plot: record the service first (helpers.orchestration.swarm.record).")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.4))
    t = [s["t"] for s in samples]
    ax.step(t, [s["desired"] for s in samples], where="post", lw=2.5, color="C0", label="desired (the spec)")
    ax.step(t, [s["running"] for s in samples], where="post", lw=2, color="C3", ls="--",
            label="running (containers)")
    for s in samples:
        if s.get("event"):
            ax.axvline(s["t"], color="gray", ls=":")
            ax.text(s["t"], max(x["desired"] for x in samples) + 0.25, str(s["event"])[:40], fontsize=8,
                    rotation=0, ha="left", va="bottom", color="dimgray")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("replicas")
    ax.set_ylim(0, max(max(x["desired"], x["running"]) for x in samples) + 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    plt.tight_layout()
    return ax


def versions_timeline(samples: list[dict], *, title: str = "Rolling update: running replicas per version", ax=None):
    """Stacked area of running replicas per version against time."""
    import matplotlib.pyplot as plt

    if not samples:
        raise WorkbookError("There are no samples to plot: record the update first (helpers.orchestration.swarm.record).")
    versions = sorted({v for s in samples for v in s["versions"]})
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.4))
    t = [s["t"] for s in samples]
    ax.stackplot(t, *[[s["versions"].get(v, 0) for s in samples] for v in versions],
                 labels=[f"VERSION={v}" for v in versions], step="post", alpha=0.8)
    ax.step(t, [s["desired"] for s in samples], where="post", color="black", lw=1.5, label="desired")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("running replicas")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    plt.tight_layout()
    return ax


# --- requests ----------------------------------------------------------------------------

def outcome(counts) -> str:
    """What the requests counted by :func:`spread_requests` came to, in words, from the counts
    themselves: ``every one of the 60 requests answered`` or ``12 of 60 requests failed (HTTP 502)``.
    Empty for a plain counter (nothing says how many requests were sent)."""
    sent = getattr(counts, "sent", None)
    if sent is None:
        return ""
    failed = getattr(counts, "failed", 0)
    if not failed:
        return f"every one of the {sent} requests answered"
    why = ", ".join(f"{reason} ×{n}" for reason, n in getattr(counts, "failures", Counter()).most_common())
    return f"{failed} of {sent} requests failed" + (f" ({why})" if why else "")


def request_spread(counts: dict[str, int] | Counter, *, title: str = "Which replica answered each request", ax=None):
    """Bar chart: requests answered per replica, and (when :func:`spread_requests` counted
    some) the requests that failed.  The title ends with :func:`outcome`, computed from the
    counts: a chart never claims more than was measured."""
    import matplotlib.pyplot as plt
    import matplotlib.transforms as mtransforms

    failed = getattr(counts, "failed", 0)
    if not counts and not failed:
        raise WorkbookError("No requests were counted: send some first.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.6, 3))
    names = sorted(counts)
    # Container names share the project's prefix: show only what differs (tasks-1, tasks-2...).
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""
    prefix = prefix[:prefix.rfind("-", 0, len(prefix) - 1) + 1] if "-" in prefix else ""
    labels = [n[len(prefix):] for n in names]
    heights = [counts[n] for n in names]
    colours = [f"C{i}" for i in range(len(names))]
    if failed:
        labels.append("failed")
        heights.append(failed)
        colours.append("tab:red")
    bars = ax.bar(labels, heights, color=colours, zorder=2)
    ax.bar_label(bars, padding=3, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3}, zorder=3)
    ax.set_ylim(0, max(heights) * 1.2)
    answered = sum(counts.values())
    if names:
        even = answered / len(names)
        ax.axhline(even, color="gray", ls=":", zorder=1)
        # the line's name sits outside the plot, right of it, where no bar or bar label can be
        ax.text(1.01, even, "an even\nshare", transform=mtransforms.blended_transform_factory(ax.transAxes, ax.transData),
                va="center", ha="left", fontsize=8, color="gray", gid="even-share")
    ax.set_xlabel(f"replica (container{', ' + prefix + '…' if prefix else ''})")
    ax.set_ylabel("requests")
    result = outcome(counts)
    ax.set_title(f"{title}: {result}" if result else f"{title} ({answered} requests)", fontsize=11)
    ax.tick_params(axis="x", labelsize=8)
    plt.tight_layout()
    return ax


def spread_requests(url: str, n: int = 60, *, header: str = "X-Upstream",
                    names: dict[str, str] | None = None, timeout: float = 5) -> Counter:
    """Send ``n`` GETs to ``url``; count the value of ``header`` in the answers (the upstream
    ``ip:port`` of the replica that answered), renamed with ``names`` (``{ip: container name}``) when
    given.  A request that gets no answer, or an answer of 500 or more (nginx's 502 when no
    replica answered), is counted as failed, not as a replica's.

    ``counts.sent`` is ``n``, ``counts.failed`` how many failed (``counts.failures``: why, e.g.
    ``{"HTTP 502": 3}``) and ``counts.retried`` how many nginx had to retry on another replica.
    If *no* request gets any answer at all, that is a :class:`WorkbookError` (is the project up?)."""
    import requests

    counts: Counter = Counter()
    failures: Counter = Counter()
    retried = 0
    unreachable = 0
    with requests.Session() as http:
        for _ in range(n):
            try:
                answer = http.get(url, timeout=timeout)
            except requests.RequestException as exc:
                unreachable += 1
                failures[type(exc).__name__] += 1
                continue
            tried = _upstreams(answer.headers.get(header, "?"))
            retried += len(tried) > 1
            if answer.status_code >= 500:
                failures[f"HTTP {answer.status_code}"] += 1
                continue
            ip = tried[-1].rsplit(":", 1)[0]
            counts[(names or {}).get(ip, tried[-1])] += 1
    if n and unreachable == n:
        raise WorkbookError(f"None of the {n} requests to {url} got an answer "
                            f"({failures.most_common(1)[0][0]}): is the project up?")
    counts.sent = n
    counts.failed = sum(failures.values())
    counts.failures = failures
    counts.retried = retried  # requests that nginx had to send to a second replica
    return counts


def _upstreams(value: str) -> list[str]:
    """nginx's ``$upstream_addr``: every server tried, in order (``a:5000, b:5000`` when the first
    failed and the request was retried; ``" : "`` separates internal redirects).  The last one answered."""
    parts = [p.strip() for p in value.replace(" : ", ", ").split(",")]
    return [p for p in parts if p] or ["?"]


def scaling_bars(results: dict[str, object], *, title: str = "The composed application at 1 and 3 replicas"):
    """Throughput and p50/p99 latency per configuration (``{"1 replica": LoadResult, ...}``)."""
    import matplotlib.pyplot as plt

    if not results:
        raise WorkbookError("There are no results to plot: measure first.")
    names = list(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    bars = ax1.bar(names, [results[n].throughput for n in names], color=["C0", "C1", "C2", "C3"][:len(names)])
    ax1.bar_label(bars, fmt="%.0f")
    ax1.set_ylim(0, max(results[n].throughput for n in names) * 1.15)
    ax1.set_ylabel("throughput (requests/s)")
    ax1.set_title("throughput")
    x = range(len(names))
    ax2.bar([i - 0.2 for i in x], [results[n].percentile(50) for n in names], 0.4, label="p50")
    ax2.bar([i + 0.2 for i in x], [results[n].percentile(99) for n in names], 0.4, label="p99")
    ax2.set_xticks(list(x), names)
    ax2.set_ylabel("latency (ms)")
    ax2.set_title("latency")
    ax2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
