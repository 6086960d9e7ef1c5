"""Containers on the real Docker engine: what the lessons' cells do not show in a few lines.

Notebook 09 calls the Docker SDK itself (``client.containers.run(...)``, ``box.pause()``...);
this module keeps what other helpers and lessons build on, and the experiments:

* Names and look-up: :func:`name` (``wb-<session>-<base>``), :func:`get`, :func:`owned`,
  :func:`state` (``removed`` for a container that no longer exists).
* Labelled lifecycle steps with errors in one sentence, for the helpers of the network and
  exercise lessons: :func:`create` (create or reuse), :func:`start`, :func:`pause`, :func:`remove`,
  :func:`run`, :func:`run_output`, :func:`execute`, :func:`logs`; :func:`explain` for SDK errors.
* :func:`interactive`: what ``-it`` + typing does, driven through the attach socket (Ctrl+P Ctrl+Q).
* Experiments and measurements: :func:`namespaces`, :func:`memory_limit_experiment` /
  :func:`plot_memory`, :func:`cpu_limit_experiment`, :func:`measure_start_times` /
  :func:`median` / :func:`plot_start_times`; :func:`table` prints rows like the CLI.

Everything created carries the session labels, so :func:`helpers.cleanup` removes it.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from helpers.containers import engine
from helpers.core import session
from helpers.core.errors import AlreadyInUse, DaemonUnavailable, NotFound, WorkbookError

#: The states a container can be in, as ``docker inspect`` names them, plus
#: ``removed`` for a container that no longer exists.
STATES = ("created", "running", "paused", "restarting", "exited", "dead", "removed")


# --- names, look-up, errors ------------------------------------------------------

def name(base: str) -> str:
    """A container name for this session: ``wb-<session>-<base>`` (no clash with other kernels)."""
    return session.resource_name(base)


def _ref(ref) -> str:
    return ref.id if hasattr(ref, "id") else str(ref)


def get(ref):
    """The container with this name, full id or short id (or the object itself, refreshed)."""
    import docker.errors

    cli = engine.client()
    try:
        return cli.containers.get(_ref(ref))
    except docker.errors.NotFound:
        shown = getattr(ref, "name", None) or str(ref)
        raise NotFound(f"There is no container called {shown!r}: list them with client.containers.list(all=True) "
                       f"(docker ps -a) and use a name or id from there.") from None
    except docker.errors.APIError as exc:
        raise explain(exc, f"Looking up container {ref}") from None


def owned(container) -> bool:
    """True when ``container`` was created by this notebook's session."""
    labels = (container.attrs.get("Config") or {}).get("Labels") or {}
    return labels.get(session.SESSION_LABEL) == session.SESSION_ID


def explain(exc: Exception, what: str) -> WorkbookError:
    """One sentence for a Docker SDK error met while doing ``what``."""
    text = getattr(exc, "explanation", None) or str(exc)
    low = text.lower()
    if "cannot start a paused container" in low:
        return WorkbookError(f"{what}: the container is paused; unpause it instead of starting it.")
    if "is already paused" in low:
        return WorkbookError(f"{what}: the container is already paused; unpause it to let it run again.")
    if "is not paused" in low:
        return WorkbookError(f"{what}: the container is not paused, so there is nothing to unpause.")
    if "is paused" in low:
        return WorkbookError(f"{what}: the container is paused; unpause it first.")
    if "is not running" in low:
        return WorkbookError(f"{what}: the container is not running; start it first (its state: "
                             f"docker ps -a).")
    if "cannot remove a running container" in low or "cannot remove a paused container" in low:
        return WorkbookError(f"{what}: the container is still running; stop it first, or remove "
                             f"it with force=True (docker rm -f).")
    if "is already in use by container" in low:
        return AlreadyInUse(f"{what}: that container name is already taken; pick another name, "
                            f"or remove the old container first (docker rm).")
    if "port is already allocated" in low or "address already in use" in low:
        return AlreadyInUse(f"{what}: that host port is already in use; publish a different host "
                            f"port or stop whatever uses it.")
    if "has active endpoints" in low:
        return WorkbookError(f"{what}: containers are still attached to the network; disconnect or "
                             f"remove them first (docker network disconnect / docker rm).")
    if "no such image" in low:
        return NotFound(f"{what}: the image does not exist on this machine; check its name or "
                        f"build/pull it first.")
    if "no such container" in low:
        return NotFound(f"{what}: that container does not exist (any more); list them with "
                        f"docker ps -a.")
    return engine.explain_api_error(exc, what)


def _call(what: str, fn, *args, **kwargs):
    import docker.errors

    try:
        return fn(*args, **kwargs)
    except docker.errors.APIError as exc:
        raise explain(exc, what) from None
    except docker.errors.DockerException as exc:  # connection lost mid-way
        raise DaemonUnavailable(engine.DAEMON_DOWN) from exc


# --- lifecycle ---------------------------------------------------------------------

def create(image: str, command=None, *, name: str | None = None, reuse: bool = True, **kwargs):
    """``docker container create``: a new container (labelled), not started.

    With ``reuse=True`` (the default) a container of *this session* that already
    has ``name`` is returned as it is, so re-running a cell works; any other
    container holding the name makes an :class:`AlreadyInUse` sentence.
    ``kwargs`` are those of ``client().containers.create`` (``environment``,
    ``ports``, ``network``, ``stdin_open``, ``tty``, ``mem_limit``...).
    """
    import docker.errors

    from helpers.containers.base_images import ensure_image

    cli = engine.client()
    if name:
        try:
            old = cli.containers.get(name)
        except docker.errors.NotFound:
            old = None
        if old is not None:
            if reuse and owned(old):
                return old
            raise AlreadyInUse(f"Creating container {name!r}: that name is already taken by container "
                               f"{old.short_id}; pick another name, or remove the old one first (docker rm).")
    ensure_image(image, quiet=kwargs.pop("quiet", True))
    kwargs["labels"] = {**engine.labels(), **(kwargs.get("labels") or {})}
    return _call(f"Creating a {image} container", cli.containers.create, image, command, name=name, **kwargs)


def start(ref):
    """``docker container start``: run a created or stopped container."""
    c = get(ref)
    _call(f"Starting {c.name}", c.start)
    c.reload()
    return c


def pause(ref):
    """``docker container pause``: freeze every process of the container (cgroup freezer)."""
    c = get(ref)
    _call(f"Pausing {c.name}", c.pause)
    c.reload()
    return c


def remove(ref, *, force: bool = False) -> str:
    """``docker container rm [-f]``: delete the container; returns its name."""
    c = get(ref)
    _call(f"Removing {c.name}", c.remove, force=force)
    return c.name


def state(ref) -> str:
    """The container's real state now (``created``, ``running``, ``paused``, ``exited``...),
    or ``removed`` when it no longer exists."""
    try:
        c = get(ref)
    except NotFound:
        return "removed"
    return c.attrs["State"]["Status"]


# --- running things -----------------------------------------------------------------

def run(image: str, command=None, *, name: str | None = None, reuse: bool = True, detach: bool = False,
        remove: bool = False, stdout: bool = True, stderr: bool = False, timeout: float = 300, **kwargs):
    """``docker run`` = :func:`create` + start (+ wait, logs and ``--rm`` when not detached), labelled.

    Detached (``detach=True``, the CLI's ``-d``) it returns the running container;
    a container of this session that already has ``name`` is reused (started
    again if it stopped) when ``reuse`` is true.  Attached, it waits for the
    command and returns its output (bytes), like the SDK's ``containers.run``;
    a non-zero exit becomes a one-sentence error.  If the container cannot
    start (a published port is taken, say) it is removed again, as nothing
    useful is left.
    """
    import docker.errors

    if name:
        state_now = state(name)
        if state_now != "removed":
            old = get(name)
            if reuse and owned(old) and detach:
                if old.status in ("created", "exited"):
                    start(old)
                return get(old)
            if owned(old):
                old.remove(force=True)  # a finished run of an earlier execution of the cell
    c = create(image, command, name=name, reuse=False, **kwargs)
    try:
        c.start()
    except docker.errors.APIError as exc:
        try:
            c.remove(force=True)
        except docker.errors.APIError:
            pass
        raise explain(exc, f"Starting a {image} container") from None
    if detach:
        c.reload()
        return c
    try:
        code = c.wait(timeout=timeout).get("StatusCode", 0)
        out = c.logs(stdout=stdout, stderr=stderr)
        err = c.logs(stdout=False, stderr=True) if code else b""
    finally:
        if remove:
            try:
                c.remove(force=True)
            except docker.errors.APIError:
                pass
    if code:
        last = err.decode(errors="replace").strip().splitlines()[-1:]
        raise WorkbookError(f"The command in the {image} container failed with exit code {code}"
                            + (f": {last[0]}" if last else "."))
    return out


def run_output(image: str, command, **kwargs) -> str:
    """``docker run --rm IMAGE COMMAND``: the command's output, as text."""
    out = run(image, command, remove=True, stdout=True, stderr=True, **kwargs)
    return out.decode(errors="replace") if isinstance(out, bytes) else str(out)


@dataclass
class ExecResult:
    """What ``docker exec`` returned: the exit code and the output (stdout + stderr)."""

    exit_code: int
    output: str

    def __str__(self) -> str:
        return self.output


def execute(ref, command, *, environment: dict | None = None, workdir: str | None = None,
            user: str = "") -> ExecResult:
    """``docker container exec CONTAINER COMMAND``: run a command inside a running container."""
    c = get(ref)
    res = _call(f"Running a command in {c.name}", c.exec_run, command, environment=environment,
                workdir=workdir, user=user, demux=False)
    return ExecResult(res.exit_code, (res.output or b"").decode(errors="replace"))


def logs(ref, tail: int | str = "all", timestamps: bool = False) -> str:
    """``docker container logs [--tail N] [-t]``: what the container printed so far."""
    c = get(ref)
    return _call(f"Reading the logs of {c.name}", c.logs, tail=tail, timestamps=timestamps).decode(
        errors="replace")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def interactive(ref, lines: Iterable[str] = (), *, detach_after: bool = False, quiet: float = 0.6,
                timeout: float = 10) -> str:
    """Type ``lines`` into a container started with ``-it`` and return the terminal's text.

    This is what ``docker attach`` does: connect to the container's standard
    input and output.  The container must have been created with
    ``stdin_open=True`` (``-i``) and ``tty=True`` (``-t``).  With
    ``detach_after=True`` the session ends with Ctrl+P Ctrl+Q, which detaches
    and leaves the container running (``exit`` instead ends the shell, and so
    the container).  Terminal control codes are stripped from the returned text.
    """
    c = get(ref)
    cfg = c.attrs["Config"]
    if not (cfg.get("OpenStdin") and cfg.get("Tty")):
        raise WorkbookError(f"Container {c.name} was not created with -i and -t (stdin_open=True, tty=True), "
                            f"so there is no terminal to type into; use execute() instead.")
    if c.status != "running":
        raise WorkbookError(f"Container {c.name} is {c.status}, not running: start it before attaching.")
    sock = _call(f"Attaching to {c.name}", engine.client().api.attach_socket, c.id,
                 params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(0.1)
    out = bytearray()

    def drain():
        # Read until the terminal has been quiet for `quiet` seconds, but give a slow
        # shell (a loaded machine) up to 3 s to say anything at all.
        started = last = time.monotonic()
        got = False
        while time.monotonic() - started < timeout:
            try:
                data = raw.recv(65536)
            except (socket.timeout, BlockingIOError):
                now = time.monotonic()
                if now - last > quiet and (got or now - started > 3):
                    return True
                continue
            if not data:
                return False  # the stream closed: the shell exited or we detached
            out.extend(data)
            got = True
            last = time.monotonic()
        return True

    try:
        raw.sendall(b"\n")  # a fresh prompt, as pressing Enter after attaching shows
        alive = drain()
        for line in lines:
            if not alive:
                break
            raw.sendall(line.encode() + b"\n")
            alive = drain()
        if detach_after and alive:
            raw.sendall(b"\x10\x11")  # Ctrl+P Ctrl+Q, Docker's default detach keys
            drain()
            out.extend(b"\n[detached with Ctrl+P Ctrl+Q: the container keeps running]\n")
    finally:
        try:
            raw.close()
        except OSError:
            pass
    text = _ANSI.sub("", out.decode(errors="replace"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A fixed-width text table (the look of the Docker CLI)."""
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    lines = ["   ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for r in rows:
        lines.append("   ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)).rstrip())
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def _image_name(c) -> str:
    return (c.attrs.get("Config") or {}).get("Image") or c.attrs.get("Image", "")[:19]


def port_lines(c) -> list[str]:
    """``docker port``: ``80/tcp -> 127.0.0.1:8080`` lines for each published port."""
    lines = []
    for cport, binds in sorted((c.attrs.get("NetworkSettings") or {}).get("Ports", {}).items()):
        for b in binds or []:
            lines.append(f"{cport} -> {b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return lines


# --- under the hood: namespaces, cgroups, layers ----------------------------------------

NAMESPACE_KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


def namespaces(ref) -> list[dict]:
    """Namespace links of the container's PID 1 next to those of this (host) process.

    Both sides are read the same way, with ``readlink /proc/<pid>/ns/<kind>``:
    the container's from inside it (no root needed), ours from the kernel's
    /proc/self.  Equal links mean the same namespace.
    """
    res = execute(ref, ["sh", "-c", "for k in " + " ".join(NAMESPACE_KINDS)
                        + "; do echo $k $(readlink /proc/1/ns/$k); done"])
    inside = dict(line.split(" ", 1) for line in res.output.splitlines() if " " in line)
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
    results = []
    for mb in sizes_mb:
        c = create(image, ["perl", "-e", _peak_memory_script(mb)], mem_limit=f"{limit_mb}m",
                   memswap_limit=f"{limit_mb}m")
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
    c = create(image, ["sh", "-c", script], nano_cpus=int(cpus * 1e9))
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
    from helpers.containers.base_images import ensure_image

    ensure_image(image, quiet=True)
    cli = engine.client()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = cli.containers.create(image, ["true"], labels=engine.labels())
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
