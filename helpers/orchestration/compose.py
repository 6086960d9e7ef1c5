"""Docker Compose projects of a session: what a notebook cell cannot show in a few lines.

The notebooks run every project verb as the ``docker compose …`` command itself, in
``%%bash`` cells.  This module keeps the rest:

* :class:`Project` runs the CLI with argument lists (never a shell) under a project
  name that carries the session (``wb-<session>-tasks``), for the checkers, the
  waits (every container healthy, the proxy reaching N replicas) and the tests.
  The session's labels reach the project through a second compose file
  (:func:`helpers.orchestration.project_files.write_override`).  Whatever it runs
  for a lesson it prints first, as a terminal runs it (:meth:`Project.command_line`):
  ``cd DIR && PROXY_PORT=... docker compose -f compose.yaml -f session-labels.yaml -p NAME ...``.
* :func:`project` is this session's project on a fresh working copy of ``data/compose``.
* ``CLEANER`` brings the session's projects down, volumes included.

Errors come back as one sentence (:class:`helpers.orchestration.cli.ComposeError`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.containers import engine
from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import wait_for
from helpers.core.servers import free_port
from helpers.orchestration.cli import ComposeError, command, failure_sentence, verb, with_last_log
from helpers.orchestration.project_files import (OVERRIDE, ensure_base_images, workdir_root, working_copy,
                                                 write_override)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"

#: The verbs that create objects: the label file is written (again) before them.
_CREATING = {"up", "create", "run", "scale", "build", "config", "restart", "start"}


def project_name(base: str = "tasks") -> str:
    """This session's name for a project: ``wb-<session>-<base>``."""
    return session.resource_name(base)


@dataclass
class Project:
    """One Compose project: a folder with ``compose.yaml`` and a project name.

    ``use_p=False`` passes the name through ``COMPOSE_PROJECT_NAME`` instead
    of ``-p``.  ``override=False`` leaves the session's label file out.
    """

    name: str
    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    use_p: bool = True
    override: bool = True
    last_output: str = ""
    #: PROXY_PORT was chosen by the helper: on a clash, choose another one and retry.
    auto_port: bool = False

    def write_override(self) -> Path:
        """Write ``session-labels.yaml`` beside ``compose.yaml`` (see :mod:`project_files`)."""
        return write_override(self.directory, self.name, self.env)

    def _files(self) -> list[str]:
        if not (Path(self.directory) / "compose.yaml").exists():
            return []  # a removed folder: `down`, `ps`... still find the project by its labels
        return ["-f", "compose.yaml"] + (["-f", OVERRIDE] if self.override else [])

    # -- the command line -------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        """The full command line for ``docker compose <args>`` on this project (run in its folder)."""
        return command() + self._files() + (["-p", self.name] if self.use_p else []) + [str(a) for a in args]

    def _variables(self, *args: str) -> dict[str, str]:
        """The variables a terminal needs set for ``docker compose <args>`` (beside its own environment)."""
        wanted = dict(self.env)
        if not self.use_p:
            wanted["COMPOSE_PROJECT_NAME"] = self.name
        return wanted

    def environment(self, *args: str) -> dict[str, str]:
        """The environment ``docker compose <args>`` runs in: the kernel's, with :meth:`_variables`."""
        env = dict(os.environ)
        env.pop("COMPOSE_PROJECT_NAME", None)
        env.pop("COMPOSE_FILE", None)
        env.update(self._variables(*args))
        return env

    def _cwd(self) -> Path:
        return Path(self.directory) if Path(self.directory).is_dir() else workdir_root()

    def command_line(self, *args: str) -> str:
        """``cd DIR && VAR=... docker compose -f ... -p NAME <args>``: the command as a terminal runs it
        (quoted as a shell needs it; ``\\t`` written as one types it)."""
        assignments = [f"{k}={v}" for k, v in self._variables(*args).items()]
        return f"cd {shlex.quote(str(self._cwd()))} && " + shlex.join(assignments + self.argv(*args))

    def run(self, *args: str, check: bool = True, timeout: float = 240, echo: bool = False) -> str:
        """Run ``docker compose <args>`` in the project's folder; returns its output (stdout + stderr).

        ``echo`` prints the command line first.  A failure raises :class:`ComposeError`
        (one sentence) when ``check`` is true.
        """
        name = verb(args)
        if echo:
            print("$ " + self.command_line(*args))
        if self.override and name in _CREATING and (Path(self.directory) / "compose.yaml").exists():
            self.write_override()  # the student may have changed the file since the last command
        try:
            done = subprocess.run(self.argv(*args), cwd=self._cwd(), env=self.environment(*args),
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ComposeError(f"`compose {name}` did not finish within {timeout:g} s; look at "
                               f"`docker compose logs` to see which service is stuck.") from None
        out = (done.stdout or "") + (done.stderr or "")
        self.last_output = out
        # Compose 2.40 can print a daemon error and still exit 0 (a port clash while
        # starting a dependent container): treat that as the failure it is.
        failed = done.returncode != 0 or re.search(r"^Error response from daemon", out, re.M)
        if check and failed:
            raise ComposeError(failure_sentence(name, out))
        return out

    # -- the project's life -------------------------------------------------------------
    def up(self, *services: str, scale: dict[str, int] | None = None, build: bool = False,
           wait: bool = True, timeout: float = 240, echo: bool = True) -> float:
        """``docker compose up -d [--build] [--wait]`` (the command line printed first); returns the
        seconds it took."""
        ensure_base_images(self.directory)
        args = ["up", "-d"]
        if build:
            args.append("--build")
        if wait:
            args += ["--wait", "--wait-timeout", str(int(timeout))]
        for svc, n in (scale or {}).items():
            args += ["--scale", f"{svc}={n}"]
        started = time.monotonic()
        for attempt in range(3):
            try:
                self.run(*args, *services, timeout=timeout + 30, echo=echo)
                break
            except ComposeError as exc:
                if not (self.auto_port and "already in use" in str(exc) and attempt < 2):
                    raise ComposeError(with_last_log(str(exc))) from None
                self.env["PROXY_PORT"] = str(free_port(below_ephemeral=True))  # taken meanwhile by someone else
        return time.monotonic() - started

    def down(self, *, volumes: bool = False, images: bool = False, timeout: float = 120,
             echo: bool = True) -> None:
        """``docker compose down`` (``volumes``: also the named volumes; ``images``: the images it built)."""
        args = ["down", "--remove-orphans", "--timeout", "3"]
        if volumes:
            args.append("--volumes")
        if images:
            args += ["--rmi", "local"]
        self.run(*args, timeout=timeout, echo=echo)

    def ps(self, *, all: bool = True, echo: bool = False) -> list[dict]:
        """The project's containers as ``docker compose ps --format json`` describes them."""
        out = self.run("ps", "--format", "json", *(["--all"] if all else []), echo=echo)
        rows = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("["):
                rows += json.loads(line)
            elif line.startswith("{"):
                rows.append(json.loads(line))
        return rows

    def health(self, *, echo: bool = True) -> dict[str, str]:
        """``{container name: health}`` (``healthy``, ``unhealthy``, ``starting`` or the state), from
        ``docker compose ps --format json --all`` (the command line printed first)."""
        return {r["Name"]: r.get("Health") or r.get("State", "?") for r in self.ps(echo=echo)}

    def wait_healthy(self, *, timeout: float = 60, echo: bool = True) -> dict[str, str]:
        """Wait until every container of the project that has a health check is healthy, asking
        ``docker compose ps --format json`` twice a second (the command printed once)."""
        if echo:
            print(f"$ {self.command_line('ps', '--format', 'json', '--all')}   # every 0.5 s, until all are healthy")

        def done():
            states = self.health(echo=False)
            return states if all(v in ("healthy", "running") for v in states.values()) else None
        return wait_for(done, timeout=timeout, what=f"every container of {self.name} to be healthy", interval=0.5)

    def config(self, *, echo: bool = True) -> dict:
        """The compose files as Compose understands them (defaults filled, variables replaced):
        ``docker compose config --format json``, parsed."""
        return json.loads(self.run("config", "--format", "json", echo=echo))

    def services(self) -> list[str]:
        return self.run("config", "--services").split()

    def exec(self, service: str, *cmd: str, index: int = 1, echo: bool = False) -> str:
        """``docker compose exec -T <service> <cmd>``: run a command in a running container."""
        return self.run("exec", "-T", "--index", str(index), service, *cmd, echo=echo)

    def port(self, service: str = "proxy", container_port: int = 80) -> int:
        """The host port published for ``service:container_port`` (``docker compose port``)."""
        out = self.run("port", service, str(container_port)).strip().splitlines()
        m = re.search(r":(\d+)\s*$", out[-1] if out else "")
        if not m:
            raise ComposeError(f"The {service} service publishes no host port for {container_port}.")
        return int(m.group(1))

    def url(self, path: str = "/", service: str = "proxy", container_port: int = 80) -> str:
        return f"http://127.0.0.1:{self.port(service, container_port)}{path}"

    # -- the project's containers (Docker SDK) ------------------------------------------
    def containers(self, service: str | None = None):
        """The project's containers (Docker SDK objects), optionally of one service."""
        flt = {"label": [f"{PROJECT_LABEL}={self.name}"]
               + ([f"{SERVICE_LABEL}={service}"] if service else [])}
        found = engine.client().containers.list(all=True, filters=flt, ignore_removed=True)
        return sorted(found, key=lambda c: c.name)

    def replica_addresses(self, service: str = "tasks") -> dict[str, str]:
        """``{IP address: container name}`` for the service's replicas."""
        found = {}
        for c in self.containers(service):
            for net in (c.attrs.get("NetworkSettings", {}).get("Networks") or {}).values():
                if net.get("IPAddress"):
                    found[net["IPAddress"]] = c.name
        return found

    # -- the proxy in front of replicas ---------------------------------------------------
    def wait_spread(self, replicas: int, *, service: str = "proxy", timeout: float = 20) -> set[str]:
        """Wait until requests through the proxy reach ``replicas`` different replicas (the
        ``X-Upstream`` header of ``/health``).  Returns the upstream addresses seen."""
        import requests

        url = self.url("/health", service)
        seen: set[str] = set()

        def spread():
            for _ in range(3 * replicas):
                seen.add(requests.get(url, timeout=3).headers.get("X-Upstream", "?"))
            return len(seen - {"?"}) >= replicas and seen

        wait_for(spread, timeout=timeout, what=f"the proxy to reach {replicas} replicas", interval=0.3)
        return seen

    def reload_proxy(self, replicas: int, *, service: str = "proxy", timeout: float = 20,
                     echo: bool = True) -> set[str]:
        """``docker compose exec proxy nginx -s reload`` (nginx resolves the upstream name again, after
        scaling; the command line printed first), then :meth:`wait_spread`."""
        self.exec(service, "nginx", "-s", "reload", echo=echo)
        return self.wait_spread(replicas, service=service, timeout=timeout)


def project(base: str = "tasks", *, directory: str | os.PathLike | None = None, fresh: bool = False,
            proxy_port: int | None = None, use_p: bool = True, name: str | None = None) -> Project:
    """This session's project ``wb-<session>-<base>`` on a working copy of ``data/compose``.

    ``proxy_port`` is the host port for the proxy (a free one by default, so
    that two copies can run side by side).
    """
    directory = Path(directory) if directory else working_copy(base, fresh=fresh)
    env = {"PROXY_PORT": str(proxy_port or free_port(below_ephemeral=True))}
    return Project(name=name or project_name(base), directory=directory, env=env, use_p=use_p,
                   auto_port=proxy_port is None)


# --- clean-up ---------------------------------------------------------------------------

def _projects_of(sid: str | None) -> dict[str, set[str]]:
    """``{session: {project names}}`` for containers, networks and volumes made by Compose."""
    if not engine.available():
        return {}
    containers, networks, volumes, _images = engine.summaries(sid)
    found: dict[str, set[str]] = {}
    for items in (containers, networks, volumes):
        for obj in items:
            lab = obj.get("Labels") or {}
            owner = lab.get(session.SESSION_LABEL)
            if PROJECT_LABEL in lab and owner and lab.get(session.HOST_LABEL, session.HOSTNAME) == session.HOSTNAME:
                found.setdefault(owner, set()).add(lab[PROJECT_LABEL])
    return found


def _owners() -> set[str]:
    owners = set(_projects_of(None))
    for path in workdir_root().iterdir():
        sid = session.session_of(path.name)
        if sid:
            owners.add(sid)
    return owners


def _leftovers(sid: str) -> list[str]:
    return [f"compose project {p}" for p in sorted(_projects_of(sid).get(sid, set()))]


def _remove(sid: str) -> list[str]:
    removed = []
    for name in sorted(_projects_of(sid).get(sid, set())):
        # No compose file needed: `down -p NAME` finds the project by its labels.
        argv = command() + ["-p", name, "down", "--volumes", "--remove-orphans",
                            "--rmi", "local", "--timeout", "2"]
        try:
            subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=workdir_root())
        except (subprocess.TimeoutExpired, OSError):
            pass  # the Docker clean-up that runs next removes what is left by label
        removed.append(f"compose project {name}")
    for path in workdir_root().glob(f"{session.NAME_PREFIX}-{sid}-*"):
        shutil.rmtree(path, ignore_errors=True)
    return removed


CLEANER = Cleaner("compose", _owners, _leftovers, _remove)
