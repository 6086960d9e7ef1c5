"""Exercise checkers for the images notebook, run against the real engine.

:func:`check_small_web_image` builds the student's build context, measures
the image, runs it with container port 5000 published on a free host port
and sends it an HTTP request.  The verdict says, case by case, what passes
and what to fix (build error, too big, nothing answering, answering on the
wrong port or only inside the container), without giving the solution away.
The image is tagged ``wb-<session>-exercise-web`` and the port is published
on 127.0.0.1 only, so two notebooks checking at once never meet.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from . import docker_engine, session
from .docker_images import LOOPBACK, build
from .docker_storage import workdir
from .errors import WorkbookError
from .storage_checks import Verdict


def write_context(name: str, files: dict[str, str]) -> Path:
    """Write ``files`` ({relative path: text}) into a fresh build-context folder of this session."""
    import shutil

    folder = workdir("exercise") / name
    if folder.exists():
        shutil.rmtree(folder)
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _http_answer(port: int, timeout: float) -> tuple[bool, str]:
    import requests

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"http://127.0.0.1:{port}/", timeout=2)
            return True, f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    return False, last


def check_small_web_image(context, *, max_mb: float = 200, port: int = 5000, timeout: float = 20,
                          tag: str | None = None) -> Verdict:
    """Does the Dockerfile in ``context`` build an image under ``max_mb`` MB that answers HTTP on ``port``?

    The image is tagged ``tag`` (default ``wb-<session>-exercise-web``).
    """
    tag = tag or session.resource_name("exercise-web")
    context = Path(context)
    lines: list[str] = []
    try:
        result = build(context, f"{tag}:latest")
    except WorkbookError as exc:
        return Verdict(False, [f"The image does not build: {exc}"])
    image = result.image
    size_mb = image.attrs.get("Size", 0) / 1e6
    small = size_mb <= max_mb
    n = len(result.steps)
    lines.append(f"The image builds ({n} step{'s' if n != 1 else ''} after FROM) and is {size_mb:.0f} MB"
                 + (f", under the {max_mb:.0f} MB limit." if small else
                    f": over the {max_mb:.0f} MB limit. Look at its layers (docker history): which one is "
                    f"big, and does it keep files the program never needs, or start from a big base image?"))
    exposed = (image.attrs.get("Config") or {}).get("ExposedPorts") or {}
    if f"{port}/tcp" not in exposed:
        lines.append(f"(Hint: the image does not declare EXPOSE {port}; it still works with -p, but EXPOSE "
                     f"documents the port and lets -P publish it.)")
    # -p 127.0.0.1::PORT: Docker picks a free host port on the loopback address.
    container = docker_engine.run(image.id, detach=True, ports={f"{port}/tcp": (LOOPBACK,)}, quiet=True,
                                  name=session.resource_name(f"check-web-{uuid.uuid4().hex[:6]}"))
    try:
        container.reload()
        bindings = (container.ports or {}).get(f"{port}/tcp") or []
        host_port = int(bindings[0]["HostPort"]) if bindings else None  # none once the container has stopped
        ok, how = _http_answer(host_port, timeout) if host_port else (False, "")
        container.reload()
        if ok:
            lines.append(f"A container from it answered {how} on container port {port} (published on "
                         f"{LOOPBACK}:{host_port} of the host).")
        elif container.status != "running":
            code = container.attrs.get("State", {}).get("ExitCode")
            tail = container.logs(tail=2).decode(errors="replace").strip().splitlines()
            lines.append(f"The container stopped (exit code {code}) instead of serving"
                         + (f": {tail[-1]}" if tail else "; does the image have a CMD or ENTRYPOINT that starts a server?"))
        else:
            listening = container.exec_run(["bash", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"]).output.decode()
            ports = _listening_ports(listening)
            if ports and port not in {p for _, p in ports}:
                lines.append(f"The container runs, but its server listens on port(s) "
                             f"{', '.join(str(p) for _, p in sorted(ports))}, not on {port}.")
            elif ports and all(addr.startswith("127.") or addr == "::1" for addr, p in ports if p == port):
                lines.append(f"The server listens on port {port} only on the container's loopback address: "
                             f"connections forwarded from the host cannot reach it. Listen on 0.0.0.0.")
            else:
                lines.append(f"Nothing answered on container port {port} within {timeout:g} s.")
        return Verdict(ok and small, lines)
    finally:
        container.remove(force=True, v=True)


def _listening_ports(proc_net_tcp: str) -> set[tuple[str, int]]:
    """(address, port) pairs in LISTEN state (``0A``) from /proc/net/tcp{,6}."""
    found = set()
    for line in proc_net_tcp.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 3 and parts[3] == "0A" and ":" in parts[1]:
            addr_hex, port_hex = parts[1].split(":")
            port = int(port_hex, 16)
            if len(addr_hex) == 8:
                b = bytes.fromhex(addr_hex)[::-1]
                addr = ".".join(str(x) for x in b)
            else:
                addr = "::1" if addr_hex.endswith("01000000") and set(addr_hex[:-8]) == {"0"} else "::"
            found.add((addr, port))
    return found


__all__ = ["check_small_web_image", "write_context", "Verdict", "session"]
