"""Containers on the real Docker engine: what a lesson's cell cannot show in a few lines.

Notebook 09 calls the Docker SDK itself (``client.containers.run(...)``, ``box.pause()``,
``box.attach(stream=True)``...); this module keeps what takes more than a few lines:

* :func:`interactive`: what ``docker run -it`` + typing does, driven through the attach socket
  (and Ctrl+P Ctrl+Q to detach).
* :func:`table` prints rows like the CLI; :func:`image_name` and :func:`port_lines` are the
  IMAGE and PORTS columns of ``docker ps``.

The experiments under the hood (namespaces, cgroup limits, start times) are in
:mod:`helpers.containers.internals`.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Iterable, Sequence

from helpers.containers import engine
from helpers.core.errors import WorkbookError

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
    c = ref if hasattr(ref, "reload") else engine.client().containers.get(ref)
    c.reload()
    cfg = c.attrs["Config"]
    if not (cfg.get("OpenStdin") and cfg.get("Tty")):
        raise WorkbookError(f"Container {c.name} was not created with -i and -t (stdin_open=True, tty=True), "
                            f"so there is no terminal to type into; use exec_run() instead.")
    if c.status != "running":
        raise WorkbookError(f"Container {c.name} is {c.status}, not running: start it before attaching.")
    sock = engine.client().api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
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


def image_name(c) -> str:
    """The image a container was made from, as it was named (``debian``), else its short id."""
    return (c.attrs.get("Config") or {}).get("Image") or c.attrs.get("Image", "")[:19]


def port_lines(c) -> list[str]:
    """``docker port``: ``80/tcp -> 127.0.0.1:8080`` lines for each published port."""
    lines = []
    for cport, binds in sorted((c.attrs.get("NetworkSettings") or {}).get("Ports", {}).items()):
        for b in binds or []:
            lines.append(f"{cport} -> {b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return lines
