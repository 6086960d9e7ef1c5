"""Which Compose: the ``docker compose`` CLI plugin, and its failures in one sentence.

* :func:`command` is ``["docker", "compose"]``, the Compose v2 plugin of the Docker CLI:
  the command every notebook cell types and every printed line shows.
* :func:`version` and :func:`cli_commands` read the tool's own ``version`` and ``--help``.
* :func:`failure_sentence` turns Compose's output of a failed command into one sentence
  (:class:`ComposeError`): what happened, what to do.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from helpers.containers import engine
from helpers.core.errors import WorkbookError


class ComposeError(WorkbookError):
    """A Compose command failed; the message says which and why, in one sentence."""


_FOUND: list[str] | None = None


def _works(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv + ["version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout + out.stderr).strip()
    return text if out.returncode == 0 and "version" in text.lower() else None


def command() -> list[str]:
    """``["docker", "compose"]``: the Compose v2 CLI plugin, the command every printed line uses.

    Only the plugin is used, so that what a cell prints is what a terminal runs
    (``scripts/setup.sh`` installs it into the Docker CLI's plugin folder)."""
    global _FOUND
    if _FOUND is None:
        if not shutil.which("docker") or not _works(["docker", "compose"]):
            raise ComposeError("`docker compose version` does not answer: the Compose v2 CLI plugin is missing; "
                               "run scripts/setup.sh (it installs it) or apt-get install docker-compose-plugin.")
        _FOUND = ["docker", "compose"]
    return list(_FOUND)


def available() -> bool:
    """True when the Compose plugin and the Docker daemon both answer."""
    try:
        command()
        engine.client()
        return True
    except WorkbookError:
        return False


def version() -> str:
    """``Docker Compose version v2.x.y`` as the tool prints it."""
    return (_works(command()) or "").splitlines()[0]


def cli_commands() -> dict[str, str]:
    """``{command: one-line description}`` from the tool's own ``docker compose --help``."""
    try:
        text = subprocess.run([*command(), "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ComposeError(f"Compose did not print its help ({exc}).") from None
    found: dict[str, str] = {}
    section = False
    for line in text.splitlines():
        if line.strip().endswith("Commands:"):
            section = True
        elif section and line.startswith("  ") and line.split():
            name, _, description = line.strip().partition(" ")
            found[name] = description.strip()
        elif section and not line.strip():
            section = False
    return found


def verb(args) -> str:
    """The sub-command in ``docker compose`` arguments (the first word that is not an option)."""
    return next((str(a) for a in args if not str(a).startswith("-")), "?")


def _first_line(text: str) -> str:
    """The line of Compose's output that explains a failure best."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    for pattern in ("port is already allocated", "address already in use", "no such service",
                    "Cannot connect to the Docker daemon", "yaml:", "validating", "invalid",
                    "not found", "failed to solve", "error", "Error"):
        for ln in reversed(lines):
            if pattern in ln:
                return ln
    return lines[-1] if lines else "no output"


def failure_sentence(verb: str, text: str) -> str:
    """One sentence for ``docker compose <verb>`` that printed ``text`` and failed."""
    line = _first_line(text).rstrip(".")
    if "port is already allocated" in line or "address already in use" in line:
        return (f"`compose {verb}` failed: a host port in the compose file is already in use "
                f"({line}); choose another port (PROXY_PORT) or stop what uses it.")
    if "Cannot connect to the Docker daemon" in line:
        return engine.DAEMON_DOWN
    if "no such service" in line:
        return f"`compose {verb}` failed: {line}; list the services with `compose config --services`."
    return f"`compose {verb}` failed: {line}."


def with_last_log(message: str) -> str:
    """``container X exited (1)``: add the container's last log line, which says why."""
    found = re.search(r"container (\S+) exited \(\d+\)", message)
    if not found:
        return message
    try:
        logs = engine.client().containers.get(found.group(1)).logs(tail=3).decode(errors="replace")
    except Exception:  # gone already, daemon unreachable: the message alone
        return message
    last = [ln.strip() for ln in logs.splitlines() if ln.strip()]
    return f"{message.rstrip('.')}; its last log line: {last[-1][:200]}" if last else message
