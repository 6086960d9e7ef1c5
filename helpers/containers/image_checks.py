"""Exercise checkers for the images notebook, run against the real engine.

:func:`check_small_web_image` builds the student's build context, measures
the image, runs it with container port 5000 published on a free host port
and sends it an HTTP request.  It returns a :class:`helpers.core.verdict.Verdict`
that says, case by case, what passes and what to fix (no Dockerfile yet,
build error, too big, port not declared, no server, answering on the wrong
port or only inside the container), with a hint that does not give the
solution away.

The check judges the answer, not the session's history: it builds the
context it is given (the tag of an earlier attempt is removed first, so a
failed build never leaves an older image to be judged), runs a container of
its own from exactly the image it built, and talks only to the host port
Docker gave that container.  The image is tagged ``wb-<session>-exercise-web``
and the port is published on 127.0.0.1 only, so two notebooks checking at
once never meet.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from helpers.containers import engine
from helpers.core import session
from helpers.containers.images import build
from helpers.core.servers import LOOPBACK
from helpers.containers.storage import workdir
from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict


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


def _instructions(dockerfile: str) -> list[str]:
    """The instruction lines of a Dockerfile (comments, blank and continuation lines left out)."""
    out, continued = [], False
    for line in dockerfile.splitlines():
        text = line.strip()
        if not continued and text and not text.startswith("#"):
            out.append(text)
        continued = text.endswith("\\")
    return out


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


def _listeners(container) -> set[tuple[str, int]]:
    """The TCP ports listening inside the container's network namespace."""
    pid = (container.attrs.get("State") or {}).get("Pid")
    text = ""
    if pid:
        for name in ("tcp", "tcp6"):
            try:
                text += Path(f"/proc/{pid}/net/{name}").read_text()
            except OSError:
                text = ""
                break
    if not text:  # not readable from this host (another user's process): ask inside the container
        try:
            text = container.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"]).output.decode(errors="replace")
        except Exception:  # no cat in the image, or the container just stopped
            return set()
    return _listening_ports(text)


def _only_loopback(ports: set[tuple[str, int]], port: int) -> bool:
    on_port = [addr for addr, p in ports if p == port]
    return bool(on_port) and all(addr.startswith("127.") or addr == "::1" for addr in on_port)


def _wait_for_answer(container, host_port: int | None, port: int, timeout: float) -> tuple[str, object]:
    """Poll until the server answers, the container stops, or the deadline passes.

    Returns ("answered", "HTTP 200"), ("stopped", None), or ("silent", listening ports).
    A server that listens on the port only on the container's loopback address
    for two seconds will not answer: the wait ends there, rather than at the deadline.
    """
    import requests

    deadline = time.monotonic() + timeout
    loopback_since = None
    ports: set = set()
    while time.monotonic() < deadline:
        if host_port:
            try:
                r = requests.get(f"http://{LOOPBACK}:{host_port}/", timeout=2)
                return "answered", f"HTTP {r.status_code}"
            except requests.RequestException:
                pass
        container.reload()
        if container.status != "running":
            return "stopped", None
        ports = _listeners(container)
        if _only_loopback(ports, port):
            loopback_since = loopback_since or time.monotonic()
            if time.monotonic() - loopback_since > 2:
                break
        else:
            loopback_since = None
        time.sleep(0.3)
    return "silent", ports


def _untag(ref: str) -> None:
    import docker.errors

    try:
        engine.client().api.remove_image(ref)
    except docker.errors.APIError:
        pass  # no such tag, or an image still used: the new build replaces the tag anyway


def check_small_web_image(context, *, max_mb: float = 200, port: int = 5000, timeout: float = 20,
                          tag: str | None = None) -> Verdict:
    """Does the Dockerfile in ``context`` build an image under ``max_mb`` MB that declares ``port``
    (``EXPOSE``) and whose containers answer HTTP there?

    The image is tagged ``tag`` (default ``wb-<session>-exercise-web``).
    """
    v = Verdict(f"Exercise: an image under {max_mb:g} MB that answers HTTP on port {port}")
    start = (f"write a Dockerfile that starts FROM a small base image, installs a web server, declares port "
             f"{port} and starts the server listening on it (CMD)")
    dockerfile = Path(context) / "Dockerfile" if context else None
    if dockerfile is None or not dockerfile.is_file() or not _instructions(dockerfile.read_text()):
        return v.not_attempted(f"There is no Dockerfile with instructions in {context} yet.", hint=start)
    tag = tag or session.resource_name("exercise-web")
    _untag(f"{tag}:latest")  # an earlier attempt's image must not be what this check looks at
    try:
        result = build(context, f"{tag}:latest")
    except WorkbookError as exc:
        v.fail(f"The image does not build: {exc}",
               hint="fix the step the error names; you can try its command in a container first (docker run --rm IMAGE sh -c '…')")
        return v
    image = result.image
    size_mb = image.attrs.get("Size", 0) / 1e6
    n = len(result.steps)
    steps = f"{n} step{'s' if n != 1 else ''} after FROM"
    v.add(size_mb <= max_mb,
          f"The image builds ({steps}) and is {size_mb:.0f} MB, under the {max_mb:.0f} MB limit."
          if size_mb <= max_mb else
          f"The image builds ({steps}) but is {size_mb:.0f} MB: over the {max_mb:.0f} MB limit.",
          hint="look at its layers (docker history IMAGE): which one is big, does it keep files the server never "
               "needs (apt's lists and downloads, recommended packages), or start from a big base image?")
    exposed = (image.attrs.get("Config") or {}).get("ExposedPorts") or {}
    v.add(f"{port}/tcp" in exposed, f"The image declares port {port} (EXPOSE)." if f"{port}/tcp" in exposed else
          f"The image does not declare port {port}: it declares "
          f"{', '.join(sorted(exposed)) or 'no port at all'}.",
          hint=f"add EXPOSE {port}: it documents the port the server uses, and lets docker run -P publish it")
    # -p 127.0.0.1::PORT: Docker picks a free host port on the loopback address.
    container = engine.run(image.id, detach=True, ports={f"{port}/tcp": (LOOPBACK,)}, quiet=True,
                                  name=session.resource_name(f"check-web-{uuid.uuid4().hex[:6]}"))
    try:
        container.reload()
        bindings = (container.ports or {}).get(f"{port}/tcp") or []
        host_port = int(bindings[0]["HostPort"]) if bindings else None  # none once the container has stopped
        outcome, detail = _wait_for_answer(container, host_port, port, timeout)
        if outcome == "answered":
            v.ok(f"A container of image {image.id[7:19]} answered {detail} on container port {port} "
                 f"(published on {LOOPBACK}:{host_port} of the host).")
        elif outcome == "stopped":
            container.reload()
            code = container.attrs.get("State", {}).get("ExitCode")
            tail = container.logs(tail=2).decode(errors="replace").strip().splitlines()
            v.fail(f"The container stopped (exit code {code}) instead of serving"
                   + (f": {tail[-1]}" if tail else ", without a word."),
                   hint="does the image have a CMD (or ENTRYPOINT) that starts a server and keeps it in the "
                        "foreground?")
        elif detail and port not in {p for _, p in detail}:
            v.fail(f"The container runs, but its server listens on port(s) "
                   f"{', '.join(str(p) for _, p in sorted(detail))}, not on {port}.",
                   hint=f"make the server listen on port {port}")
        elif detail and _only_loopback(detail, port):
            v.fail(f"The server listens on port {port} only on the container's loopback address (127.0.0.1): "
                   f"connections forwarded from the host cannot reach it.",
                   hint="make the server listen on 0.0.0.0, every interface of the container")
        else:
            v.fail(f"Nothing answered on container port {port} within {timeout:g} s.",
                   hint=f"does the CMD start a web server on port {port}? Run the image and read its logs")
        return v
    finally:
        container.remove(force=True, v=True)


__all__ = ["check_small_web_image", "write_context", "Verdict", "session"]
