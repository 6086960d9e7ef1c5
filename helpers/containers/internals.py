"""Under the hood of a container: namespaces, cgroup limits and start times, measured.

Notebook 09 first runs ONE instance of each experiment inline (one ``mem_limit`` container and
its ``OOMKilled``, one ``nano_cpus`` container's quota, one create/start/remove timed); the
functions here repeat it over sizes or samples and plot the result:

* :func:`namespaces`: the namespace links of a container's PID 1 next to the host's.
* :func:`memory_limit_experiment` / :func:`plot_memory`: ``--memory`` against growing requests.
* :func:`cpu_limit_experiment`: ``--cpus`` as the cgroup's quota, and the throttled periods.
* :func:`measure_start_times` / :func:`median` / :func:`plot_start_times`.

Every container is created with the session labels and removed when measured.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Sequence

from helpers.containers import engine
from helpers.containers.base_images import ensure_image
from helpers.core.session import labels

NAMESPACE_KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


def namespaces(ref) -> list[dict]:
    """Namespace links of the container's PID 1 next to those of this (host) process.

    Both sides are read the same way, with ``readlink /proc/<pid>/ns/<kind>``:
    the container's from inside it (no root needed), ours from the kernel's
    /proc/self.  Equal links mean the same namespace.
    """
    box = ref if hasattr(ref, "exec_run") else engine.client().containers.get(ref)
    res = box.exec_run(["sh", "-c", "for k in " + " ".join(NAMESPACE_KINDS)
                        + "; do echo $k $(readlink /proc/1/ns/$k); done"])
    inside = dict(line.split(" ", 1) for line in res.output.decode(errors="replace").splitlines() if " " in line)
    rows = []
    for kind in NAMESPACE_KINDS:
        try:
            host = os.readlink(f"/proc/self/ns/{kind}")
        except OSError:
            host = "?"
        cont = inside.get(kind, "?").strip()
        rows.append({"namespace": kind, "container": cont, "host": host,
                     "shared": "yes" if cont == host else "no (own)"})
    return rows


def _peak_memory_script(mb: int) -> str:
    # perl is part of Debian's minimal base; vec() grows one string to the size
    # asked for and touches every page.  The peak usage is read from the
    # container's own memory cgroup (v1 name first, then v2).
    return (f'vec($x, {mb}*1048576-1, 8) = 1; '
            'for my $f ("/sys/fs/cgroup/memory/memory.max_usage_in_bytes", "/sys/fs/cgroup/memory.peak") '
            '{ if (open(my $h, "<", $f)) { print scalar <$h>; last } }')


def memory_limit_experiment(limit_mb: int = 64, sizes_mb: Sequence[int] = (16, 32, 48, 96),
                            image: str = "debian") -> list[dict]:
    """Run one container per size under ``--memory LIMIT --memory-swap LIMIT``; each tries to hold
    that many MB.  Returns size, exit code, OOM-killed flag and the peak usage the cgroup measured."""
    ensure_image(image, quiet=True)
    results = []
    for mb in sizes_mb:
        c = engine.client().containers.create(image, ["perl", "-e", _peak_memory_script(mb)], labels=labels(),
                                              mem_limit=f"{limit_mb}m", memswap_limit=f"{limit_mb}m")
        try:
            c.start()
            code = c.wait(timeout=60)["StatusCode"]
            c.reload()
            out = c.logs().decode(errors="replace").strip()
            peak = round(int(out) / 2**20, 1) if out.isdigit() else None
            results.append({"asked_mb": mb, "limit_mb": limit_mb, "exit_code": code,
                            "oom_killed": bool(c.attrs["State"].get("OOMKilled")), "peak_mb": peak})
        finally:
            c.remove(force=True)
    return results


def plot_memory(results: list[dict], ax=None):
    """Bar chart of :func:`memory_limit_experiment`: the measured peak per request, the limit as a
    line.  A run that measured nothing (the OOM killer ended it before it could read its cgroup)
    gets no bar, only a mark saying what happened to it: the plot shows only what was measured."""
    import matplotlib.pyplot as plt

    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(7, 3.6))
    limit = results[0]["limit_mb"]
    xs = [f"{r['asked_mb']} MB" for r in results]
    measured = [r["peak_mb"] is not None for r in results]
    ys = [r["peak_mb"] if r["peak_mb"] is not None else 0 for r in results]
    colours = ["tab:red" if r["oom_killed"] or r["exit_code"] else "tab:green" for r in results]
    bars = ax.bar(xs, ys, color=colours)
    for bar, r, known in zip(bars, results, measured):
        x = bar.get_x() + bar.get_width() / 2
        if known:
            ax.annotate(f"{r['peak_mb']:.1f} MB", (x, bar.get_height()), ha="center", va="bottom", fontsize=9)
            continue
        bar.set_visible(False)  # nothing was measured: no bar at all
        what = (f"killed by the\nOOM killer (exit {r['exit_code']})" if r["oom_killed"]
                else f"exit code {r['exit_code']}")
        ax.annotate(f"✘ {what}:\nno peak measured", (x, limit * 0.5),
                    ha="center", va="center", fontsize=9, color="tab:red", fontweight="bold")
    ax.axhline(limit, color="black", linestyle="--", linewidth=1)
    ax.text(-0.45, limit * 1.03, f"limit: --memory {limit}m", ha="left", va="bottom", fontsize=9)
    ax.set_ylim(0, limit * 1.3)
    ax.set_xlabel("memory the process tried to hold")
    ax.set_ylabel("peak memory measured by the cgroup (MB)")
    ax.set_title("A memory limit enforced by the cgroup (bars: the peak each run measured)")
    return _finish(ax, own)


def cpu_limit_experiment(cpus: float = 0.5, seconds: float = 2.0, image: str = "debian") -> dict:
    """Spin a busy loop for ``seconds`` under ``--cpus CPUS`` and read what the container's cgroup
    recorded *during the loop*: the quota per scheduling period the limit became, the CPU time the
    loop was charged, how many of the kernel's scheduling periods went by and how many of them ended
    with the group *throttled* (its quota used up).

    The share of one CPU is the CPU time divided by the wall time of the periods the loop ran in
    (``periods x period``, a period it only began or ended in counted whole, as its quota is): the
    cgroup's counters are read just before and just after the loop, so neither the container's
    start nor the reading itself is counted.  The share is then never above the quota's.

    On a busy machine the share can be lower than the limit (other programs compete for the CPU);
    the throttled periods are the proof that the limit itself was enforced."""
    read = ('if [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then '
            'echo usage_ns $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage); cat /sys/fs/cgroup/cpu/cpu.stat; '
            'else echo usage_us $(grep usage_usec /sys/fs/cgroup/cpu.stat | cut -d" " -f2); '
            'grep -v usage_usec /sys/fs/cgroup/cpu.stat; fi')
    script = (f'{read}; echo --; timeout {seconds} sh -c "while :; do :; done"; {read}; echo --; '
              'if [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then '
              'echo quota_us $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us); '
              'echo period_us $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); '
              'else read q p < /sys/fs/cgroup/cpu.max; echo quota_us $q; echo period_us $p; fi')
    ensure_image(image, quiet=True)
    c = engine.client().containers.create(image, ["sh", "-c", script], nano_cpus=int(cpus * 1e9), labels=labels())
    try:
        c.start()
        c.wait(timeout=seconds + 60)
        out = c.logs().decode()
    finally:
        c.remove(force=True)
    before, after, limits = (_counters(part) for part in (out.split("--") + ["", ""])[:3])
    if "usage_ns" in after:
        used = (after["usage_ns"] - before.get("usage_ns", 0)) / 1e9
    else:
        used = (after.get("usage_us", 0) - before.get("usage_us", 0)) / 1e6
    period_ms = limits["period_us"] / 1000 if "period_us" in limits else None
    # nr_periods counts period *boundaries*: the loop began inside one period and ended inside
    # another, so it ran in one period more than the boundaries it crossed, each with its quota.
    periods = after.get("nr_periods", 0) - before.get("nr_periods", 0) + 1 if "nr_periods" in after else None
    # The wall time the share is measured against: those periods (each one `period` long); the
    # loop's own duration only when the cgroup does not count periods.
    wall = periods * period_ms / 1000 if periods and period_ms else seconds
    return {"cpus_limit": cpus, "loop_s": seconds, "wall_s": wall, "cpu_s": used, "share": used / wall,
            "quota_ms": limits["quota_us"] / 1000 if "quota_us" in limits else None,
            "period_ms": period_ms, "periods": periods,
            "throttled": (after.get("nr_throttled", 0) - before.get("nr_throttled", 0)
                          if "nr_throttled" in after else None)}


def _counters(text: str) -> dict[str, int]:
    """``name value`` lines (cgroup ``cpu.stat`` style) as a dict of integers."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found


def measure_start_times(n: int = 10, image: str = "debian") -> list[dict]:
    """Time ``n`` containers: create, start (until the engine says running) and the whole
    ``docker run --rm IMAGE true`` round trip (create + start + wait + remove)."""
    ensure_image(image, quiet=True)
    cli = engine.client()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = cli.containers.create(image, ["true"], labels=labels())
        t1 = time.perf_counter()
        c.start()
        t2 = time.perf_counter()
        c.wait(timeout=60)
        c.remove(force=True)
        t3 = time.perf_counter()
        samples.append({"create_s": t1 - t0, "start_s": t2 - t1, "run_s": t3 - t0})
    return samples


def median(samples: list[dict], key: str) -> float:
    """Median of one measurement of :func:`measure_start_times`."""
    return statistics.median(s[key] for s in samples)


def plot_start_times(samples: list[dict], ax=None):
    """Each sample as a dot per phase, with the median marked."""
    import matplotlib.pyplot as plt

    own = ax is None
    if own:
        _, ax = plt.subplots(figsize=(7, 3.2))
    keys = [("create_s", "create"), ("start_s", "start"), ("run_s", "run --rm (all)")]
    for i, (key, label) in enumerate(keys):
        ys = [s[key] * 1000 for s in samples]
        ax.scatter([i] * len(ys), ys, alpha=0.6)
        med = median(samples, key) * 1000
        ax.hlines(med, i - 0.25, i + 0.25, color="black")
        ax.annotate(f"median {med:.0f} ms", (i + 0.27, med), va="center", fontsize=9)
    ax.set_xticks(range(len(keys)), [k[1] for k in keys])
    ax.set_xlim(-0.5, len(keys) + 0.3)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("time (ms)")
    ax.set_xlabel("phase of docker run")
    ax.set_title(f"Container start time on this machine ({len(samples)} runs)")
    return _finish(ax, own)


def _finish(ax, own: bool):
    """Lay out the figure; a figure made here is closed so that Jupyter shows it once (as the
    returned value) instead of twice."""
    import matplotlib.pyplot as plt

    ax.figure.tight_layout()
    if own:
        plt.close(ax.figure)
    return ax.figure
