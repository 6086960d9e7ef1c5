"""Containers on the real Docker engine: lifecycle, inspection, and what lies beneath.

Public API (stable; other Docker lessons import it):

* Names and look-up: :func:`name` (``wb-<session>-<base>``), :func:`get`, :func:`owned`.
* Lifecycle, each one call of the Docker SDK with errors in one sentence:
  :func:`create` (create or reuse), :func:`start`, :func:`pause`, :func:`unpause`,
  :func:`restart`, :func:`stop`, :func:`remove`, :func:`state`.
* Running things: :func:`run` (``docker run``, labelled), :func:`run_output`
  (``docker run --rm IMAGE CMD`` and its output), :func:`execute` (``docker exec``),
  :func:`logs`, :func:`interactive` (what ``-it`` + typing does, driven through attach),
  :func:`ps` / :func:`ps_table` (``docker ps [-a]``).
* Under the hood: :func:`processes` (``ps`` inside), :func:`top` (``docker top``),
  :func:`namespaces`, :func:`memory_limit_experiment`, :func:`cpu_limit_experiment`,
  :func:`overlay`, :func:`measure_start_times`.
* The Engine API without the SDK: :func:`engine_request` speaks HTTP over the
  daemon's unix socket with :mod:`http.client`; :func:`demux` splits a log stream.
* :func:`cli` runs the real ``docker`` command line (argv list, no shell) when installed;
  :func:`cli_help` keeps the lines of its ``--help`` that a lesson uses.

Everything created carries the session labels, so :func:`helpers.cleanup` removes it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from . import docker_engine, session
from .errors import AlreadyInUse, DaemonUnavailable, NotFound, WorkbookError

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

    cli = docker_engine.client()
    try:
        return cli.containers.get(_ref(ref))
    except docker.errors.NotFound:
        shown = getattr(ref, "name", None) or str(ref)
        raise NotFound(f"There is no container called {shown!r}: list them with containers.ps(all=True) "
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
    return docker_engine.explain_api_error(exc, what)


def _call(what: str, fn, *args, **kwargs):
    import docker.errors

    try:
        return fn(*args, **kwargs)
    except docker.errors.APIError as exc:
        raise explain(exc, what) from None
    except docker.errors.DockerException as exc:  # connection lost mid-way
        raise DaemonUnavailable(docker_engine.DAEMON_DOWN) from exc


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

    from .images import ensure_image

    cli = docker_engine.client()
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
    kwargs["labels"] = {**docker_engine.labels(), **(kwargs.get("labels") or {})}
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


def unpause(ref):
    """``docker container unpause``: thaw the processes frozen by :func:`pause`."""
    c = get(ref)
    _call(f"Unpausing {c.name}", c.unpause)
    c.reload()
    return c


def restart(ref, timeout: int = 2):
    """``docker container restart -t TIMEOUT``: stop (if running) then start again."""
    c = get(ref)
    _call(f"Restarting {c.name}", c.restart, timeout=timeout)
    c.reload()
    return c


def stop(ref, timeout: int = 2):
    """``docker container stop -t TIMEOUT``: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    c = get(ref)
    _call(f"Stopping {c.name}", c.stop, timeout=timeout)
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
    sock = _call(f"Attaching to {c.name}", docker_engine.client().api.attach_socket, c.id,
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


def ps(all: bool = False, *, session_only: bool = True) -> list[dict]:
    """``docker container ls [-a]`` as rows (id, image, command, status, ports, names).

    ``session_only`` keeps the listing to this notebook's containers (other
    kernels on this machine have their own).
    """
    cli = docker_engine.client()
    filters = docker_engine.session_filter() if session_only else None
    rows = []
    for c in _call("Listing containers", cli.containers.list, all=all, filters=filters):
        cfg = c.attrs.get("Config") or {}
        cmd = " ".join((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or []))
        rows.append({"CONTAINER ID": c.short_id, "IMAGE": _image_name(c), "COMMAND": _clip(cmd, 26),
                     "STATUS": _status_text(c), "PORTS": ", ".join(port_lines(c)), "NAMES": c.name})
    return rows


def ps_table(all: bool = False, *, session_only: bool = True) -> str:
    """:func:`ps` as a plain-text table like the CLI prints."""
    return table(ps(all, session_only=session_only),
                 ["CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "PORTS", "NAMES"])


def table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A fixed-width text table (the look of the Docker CLI)."""
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    lines = ["   ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    for r in rows:
        lines.append("   ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)).rstrip())
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _image_name(c) -> str:
    return (c.attrs.get("Config") or {}).get("Image") or c.attrs.get("Image", "")[:19]


def _status_text(c) -> str:
    st = c.attrs["State"]
    if st["Status"] == "exited":
        return f"Exited ({st.get('ExitCode')})"
    return st["Status"].capitalize()


def port_lines(c) -> list[str]:
    """``docker port``: ``80/tcp -> 127.0.0.1:8080`` lines for each published port."""
    lines = []
    for cport, binds in sorted((c.attrs.get("NetworkSettings") or {}).get("Ports", {}).items()):
        for b in binds or []:
            lines.append(f"{cport} -> {b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return lines


def cli(*args: str, timeout: float = 30) -> str:
    """Run the real ``docker`` command line (``cli("ps", "-a")``) and return what it printed.

    The arguments go to the program as a list (never through a shell).  When no
    ``docker`` program is installed the answer says so: the SDK cell beside it
    did the same work.
    """
    exe = shutil.which("docker")
    if not exe:
        return "(the docker command line is not installed here; the SDK call above does the same)"
    try:
        res = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WorkbookError(f"`docker {' '.join(args)}` did not finish in {timeout:g} s.") from None
    return (res.stdout + res.stderr).rstrip()


def cli_commands(*group: str) -> dict[str, str]:
    """``{command: one-line description}`` from ``docker GROUP --help`` (``cli_commands("container")``);
    empty when the docker command line is not installed."""
    found = {}
    section = False
    for line in cli(*group, "--help").splitlines():
        if line.strip().endswith("Commands:"):
            section = True
        elif section and line.startswith("  ") and line.split():
            command, _, description = line.strip().partition(" ")
            found[command] = description.strip()
        elif section and not line.strip():
            section = False
    return found


def cli_help(*group: str, keep: Sequence[str]) -> str:
    """The lines of ``docker GROUP --help`` for the commands in ``keep`` (in that order), and one
    line naming the others: what a lesson uses, instead of the whole listing."""
    commands = cli_commands(*group)
    if not commands:
        return cli(*group, "--help")  # no CLI here: the sentence that says so
    lines = [f"  {c:10} {commands[c]}" for c in keep if c in commands]
    others = [c for c in commands if c not in keep]
    if others:
        lines.append(f"  (and {len(others)} more: {', '.join(others)})")
    return "\n".join(lines)


# --- under the hood: namespaces, cgroups, layers ----------------------------------------

def processes(ref) -> list[tuple[int, str]]:
    """``ps`` as seen *inside* the container: (pid, command) read from its /proc."""
    script = ('for p in /proc/[0-9]*; do [ -r "$p/cmdline" ] || continue; '
              'printf "%s %s\\n" "${p#/proc/}" "$(tr "\\0" " " < $p/cmdline)"; done')
    res = execute(ref, ["sh", "-c", script])
    rows = []
    for line in res.output.splitlines():
        pid, _, cmd = line.partition(" ")
        if pid.isdigit() and cmd.strip():
            rows.append((int(pid), _clip(cmd.strip(), 60)))
    return sorted(rows)


def top(ref) -> list[dict]:
    """``docker container top``: the container's processes as the *host* sees them."""
    c = get(ref)
    res = _call(f"Listing the processes of {c.name}", c.top)
    titles = res.get("Titles") or []
    return [dict(zip(titles, p)) for p in res.get("Processes") or []]


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


def overlay(ref) -> dict:
    """The overlay mount behind a container: GraphDriver data from ``docker inspect``
    (lower layers, upper = the container's writable layer, merged view) and the
    root mount line the container itself sees in /proc/mounts."""
    c = get(ref)
    gd = c.attrs.get("GraphDriver") or {}
    data = gd.get("Data") or {}
    mount = ""
    if c.status == "running":
        first = execute(c, ["sh", "-c", "grep ' / ' /proc/mounts | head -1"]).output.strip()
        mount = first
    return {"driver": gd.get("Name"),
            "lower": [p for p in (data.get("LowerDir") or "").split(":") if p],
            "upper": data.get("UpperDir"), "merged": data.get("MergedDir"), "work": data.get("WorkDir"),
            "root_mount": mount}


def measure_start_times(n: int = 10, image: str = "debian") -> list[dict]:
    """Time ``n`` containers: create, start (until the engine says running) and the whole
    ``docker run --rm IMAGE true`` round trip (create + start + wait + remove)."""
    from .images import ensure_image

    ensure_image(image, quiet=True)
    cli = docker_engine.client()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        c = cli.containers.create(image, ["true"], labels=docker_engine.labels())
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


# --- the Engine API over its unix socket, without the SDK ----------------------------------

def socket_path() -> str:
    """The daemon's unix socket (``DOCKER_HOST=unix://...`` or the default /var/run/docker.sock)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return "/var/run/docker.sock"


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket: only ``connect`` differs from TCP."""

    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)  # Host header; the socket is what counts
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


@dataclass
class ApiResponse:
    """One answer of the Engine API: status, reason, headers and body (parsed JSON, text or bytes)."""

    status: int
    reason: str
    headers: dict
    body: Any
    request_line: str = ""
    raw: bytes = field(default=b"", repr=False)

    def __str__(self) -> str:
        body = self.body if isinstance(self.body, str) else json.dumps(self.body, indent=1)[:600]
        return f"{self.request_line}\n-> HTTP {self.status} {self.reason}\n{body}"


def engine_request(method: str, path: str, *, query: dict | None = None, body: Any = None,
                   timeout: float = 60, sock: str | None = None) -> ApiResponse:
    """Send one HTTP request to the Docker daemon's REST API over its unix socket.

    ``path`` is an Engine API path such as ``/version`` or ``/containers/json``;
    ``body`` (a dict) is sent as JSON.  This is exactly what the ``docker`` CLI
    and the SDK do underneath.
    """
    path_on_disk = sock or socket_path()
    url = path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
    headers = {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = _UnixHTTPConnection(path_on_disk, timeout)
    try:
        conn.request(method, url, body=payload, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except FileNotFoundError:
        raise DaemonUnavailable(f"There is no Docker socket at {path_on_disk}: the daemon is not running "
                                f"(start it) or listens elsewhere (DOCKER_HOST).") from None
    except PermissionError:
        raise DaemonUnavailable(f"You may not open {path_on_disk}: it belongs to root and the docker "
                                f"group; join the group (sudo usermod -aG docker $USER) and log in again.") from None
    except ConnectionRefusedError:
        raise DaemonUnavailable(docker_engine.DAEMON_DOWN) from None
    except OSError as exc:
        raise DaemonUnavailable(f"Talking to the Docker socket {path_on_disk} failed ({exc}); is the "
                                f"daemon running?") from None
    finally:
        conn.close()
    ctype = resp.getheader("Content-Type", "")
    if "json" in ctype:
        parsed: Any = json.loads(raw or b"null")
    elif ctype.startswith("text/"):
        parsed = raw.decode(errors="replace")
    else:
        parsed = raw
    return ApiResponse(resp.status, resp.reason, dict(resp.getheaders()), parsed,
                       f"{method} {url}", raw)


def demux(stream: bytes) -> list[tuple[str, str]]:
    """Split a log/attach stream of a container without a TTY into (stdout|stderr, text) frames.

    Each frame starts with 8 bytes: the stream (1 = stdout, 2 = stderr), three
    zero bytes, and the payload length as a big-endian 32-bit number.
    """
    frames, i = [], 0
    names = {0: "stdin", 1: "stdout", 2: "stderr"}
    while i + 8 <= len(stream):
        kind, size = stream[i], int.from_bytes(stream[i + 4:i + 8], "big")
        frames.append((names.get(kind, str(kind)), stream[i + 8:i + 8 + size].decode(errors="replace")))
        i += 8 + size
    return frames
