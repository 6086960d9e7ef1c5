"""Docker Compose, driven for real from a notebook.

* :func:`command` is ``docker compose``, the Compose v2 CLI plugin.
* :class:`Project` runs the CLI with argument lists (never a shell) under a
  project name that carries the session (``wb-<session>-tasks``).  The session's
  labels reach the project through a second compose file, an *override*
  (:meth:`Project.write_override`) generated from ``docker compose config``:
  it labels every service, image, network and volume the student's file
  defines, so that file itself carries no workbook label.  Every command is
  printed as a terminal runs it (:meth:`Project.command_line`): ``cd DIR &&
  PROXY_PORT=... docker compose -f compose.yaml -f session-labels.yaml -p NAME ...``.
* :func:`working_copy` copies ``data/compose/`` (the tasks application) to a
  per-session folder, with ``helpers/services/tasks.py`` (and what it imports)
  next to its Dockerfile: a student may edit that copy freely.
* ``CLEANER`` brings the session's projects down, volumes included.

Errors come back as one sentence (:class:`ComposeError`).
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
from helpers.core.servers import free_port
from helpers.core.errors import WorkbookError, wait_for

ROOT = Path(__file__).resolve().parents[2]  # the repository: helpers/orchestration/ is two levels down
COMPOSE_DIR = ROOT / "data" / "compose"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


class ComposeError(WorkbookError):
    """A Compose command failed; the message says which and why, in one sentence."""


# --- which Compose ------------------------------------------------------------------

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
    """True when a Compose implementation and the Docker daemon both answer."""
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
    """``{command: one-line description}`` from the tool's own ``--help``."""
    import subprocess

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


# --- a project ------------------------------------------------------------------------

def project_name(base: str = "tasks") -> str:
    """This session's name for a project: ``wb-<session>-<base>``."""
    return session.resource_name(base)


def _workdir_root() -> Path:
    path = session.state_dir() / "compose"
    path.mkdir(parents=True, exist_ok=True)
    return path


def working_copy(base: str = "tasks", source: str | os.PathLike = COMPOSE_DIR, *, fresh: bool = True) -> Path:
    """A copy of ``source`` (default ``data/compose``) for this session, ready to build.

    The tasks service's module is copied next to ``tasks/Dockerfile`` (as
    ``tasks/helpers/``) so the build context holds only what the image needs.
    """
    source = Path(source)
    if not (source / "compose.yaml").exists():
        raise ComposeError(f"There is no compose.yaml in {source}: point to a folder that has one.")
    target = _workdir_root() / project_name(base)
    if fresh and target.exists():
        shutil.rmtree(target)
    if not target.exists():
        shutil.copytree(source, target)
    if (target / "tasks" / "Dockerfile").exists():
        _copy_tasks_package(target / "tasks")
    return target


def _copy_tasks_package(folder: Path) -> None:
    """Put the tasks service in ``folder/helpers/`` as a tiny package, so that the image runs
    ``python3 -m helpers.services.tasks`` exactly as on the host."""
    from helpers.services.tasks import package_into

    package_into(folder)


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


#: The verbs that create objects: the label file is written (again) before them.
_CREATING = {"up", "create", "run", "scale", "build", "config", "restart", "start"}
#: The verbs that may build an image.
_BUILDING = {"up", "create", "run", "build", "scale"}


def _verb(args) -> str:
    return next((str(a) for a in args if not str(a).startswith("-")), "?")


def _sentence(verb: str, text: str) -> str:
    line = _first_line(text).rstrip(".")
    if "port is already allocated" in line or "address already in use" in line:
        return (f"`compose {verb}` failed: a host port in the compose file is already in use "
                f"({line}); choose another port (PROXY_PORT) or stop what uses it.")
    if "Cannot connect to the Docker daemon" in line:
        return engine.DAEMON_DOWN
    if "no such service" in line:
        return f"`compose {verb}` failed: {line}; list the services with `compose config --services`."
    return f"`compose {verb}` failed: {line}."


def _with_last_log(message: str) -> str:
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


#: The second compose file of every project: the session's labels (written by the helper).
OVERRIDE = "session-labels.yaml"


@dataclass
class Project:
    """One Compose project: a folder with ``compose.yaml`` and a project name.

    ``use_p=False`` passes the name through ``COMPOSE_PROJECT_NAME`` instead
    of ``-p`` (both are shown in notebook 14).  ``override=False`` leaves the
    session's label file out (``compose config`` of a snippet, nothing created).
    """

    name: str
    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    use_p: bool = True
    override: bool = True
    last_output: str = ""
    #: PROXY_PORT was chosen by the helper: on a clash, choose another one and retry.
    auto_port: bool = False

    # -- the session's labels, in a second compose file ------------------------------------
    def write_override(self) -> Path:
        """Write ``session-labels.yaml`` beside ``compose.yaml``: the session's labels on every
        service (its containers, and the image it builds), network and volume that the project's
        own file defines, read from ``docker compose config --format json`` of that file alone."""
        import yaml

        done = subprocess.run(command() + ["-f", "compose.yaml", "-p", self.name, "config", "--format", "json"],
                              cwd=self.directory, env=self.environment(), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise ComposeError(_sentence("config", done.stdout + done.stderr))
        model = json.loads(done.stdout)
        labels = session.labels()
        override: dict = {"services": {}}
        for name, svc in (model.get("services") or {}).items():
            entry: dict = {"labels": dict(labels)}
            if svc.get("build"):
                entry["build"] = {"labels": dict(labels)}
            override["services"][name] = entry
        for kind in ("networks", "volumes"):
            own = {n: {"labels": dict(labels)} for n, spec in (model.get(kind) or {}).items()
                   if not (spec or {}).get("external")}
            if own:
                override[kind] = own
        path = Path(self.directory) / OVERRIDE
        path.write_text("# Written by helpers.orchestration.compose from `docker compose config` of compose.yaml: the labels that\n"
                        "# make every object of this project the workbook session's (helpers.cleanup() finds them).\n"
                        + yaml.safe_dump(override, sort_keys=False, default_flow_style=False))
        return path

    def _files(self) -> list[str]:
        if not (Path(self.directory) / "compose.yaml").exists():
            return []  # a removed folder: `down`, `ps`... still find the project by its labels
        return ["-f", "compose.yaml"] + (["-f", OVERRIDE] if self.override else [])

    # -- running the CLI --------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        """The full command line for ``docker compose <args>`` on this project (run in its folder)."""
        return command() + self._files() + (["-p", self.name] if self.use_p else []) + [str(a) for a in args]

    def _variables(self, *args: str) -> dict[str, str]:
        """The variables a terminal needs set for ``docker compose <args>`` (beside its own environment)."""
        wanted = dict(self.env)
        if _verb(args) in _BUILDING:
            wanted.setdefault("COMPOSE_BAKE", "false")  # no buildx here: the engine's own builder, without a warning
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

    def command_line(self, *args: str) -> str:
        """``cd DIR && VAR=... docker compose -f ... -p NAME <args>``: the command as a terminal runs it
        (quoted as a shell needs it; ``\\t`` written as one types it)."""
        folder = Path(self.directory) if Path(self.directory).is_dir() else _workdir_root()
        assignments = [f"{k}={v}" for k, v in self._variables(*args).items()]
        return f"cd {shlex.quote(str(folder))} && " + shlex.join(assignments + self.argv(*args))

    def run(self, *args: str, check: bool = True, timeout: float = 240, quiet: bool = True,
            echo: bool = False) -> str:
        """Run ``docker compose <args>`` in the project's folder; returns its output (stdout + stderr).

        ``echo`` prints the command line first, ``quiet=False`` the output.  A failure
        raises :class:`ComposeError` (one sentence) when ``check`` is true.
        """
        verb = _verb(args)
        if echo:
            print("$ " + self.command_line(*args))
        if self.override and verb in _CREATING and (Path(self.directory) / "compose.yaml").exists():
            self.write_override()  # the student may have changed the file since the last command
        try:
            cwd = self.directory if Path(self.directory).is_dir() else _workdir_root()
            done = subprocess.run(self.argv(*args), cwd=cwd, env=self.environment(*args),
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ComposeError(f"`compose {verb}` did not finish within {timeout:g} s; look at "
                               f"`compose logs` to see which service is stuck.") from None
        out = (done.stdout or "") + (done.stderr or "")
        self.last_output = out
        if not quiet:
            print(out.rstrip())
        # Compose 2.40 can print a daemon error and still exit 0 (a port clash while
        # starting a dependent container): treat that as the failure it is.
        failed = done.returncode != 0 or re.search(r"^Error response from daemon", out, re.M)
        if check and failed:
            raise ComposeError(_sentence(verb, out))
        return out

    def show(self, *args: str, check: bool = True, timeout: float = 240, lines: int | None = None) -> None:
        """Run ``docker compose <args>``: print the command line, then (the last ``lines`` of) its output."""
        print("$ " + self.command_line(*args))
        out = self.run(*args, check=check, timeout=timeout).rstrip()
        if lines is not None:
            out = "\n".join(out.splitlines()[-lines:])
        if out:
            print(out)

    # -- common operations --------------------------------------------------------------
    def up(self, *services: str, scale: dict[str, int] | None = None, build: bool = False,
           wait: bool = True, timeout: float = 240, echo: bool = True) -> float:
        """``docker compose up -d [--wait]`` (the command line printed first); returns the seconds it took."""
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
                    raise ComposeError(_with_last_log(str(exc))) from None
                self.env["PROXY_PORT"] = str(free_port(below_ephemeral=True))  # taken meanwhile by someone else
        return time.monotonic() - started

    def health(self) -> dict[str, str]:
        """``{container name: health}`` (``healthy``, ``unhealthy``, ``starting`` or the state)."""
        return {r["Name"]: r.get("Health") or r.get("State", "?") for r in self.ps()}

    def wait_healthy(self, *, timeout: float = 60) -> dict[str, str]:
        """Wait until every container of the project that has a health check is healthy."""
        def done():
            states = self.health()
            return states if all(v in ("healthy", "running") for v in states.values()) else None
        return wait_for(done, timeout=timeout, what=f"every container of {self.name} to be healthy", interval=0.5)

    def down(self, *, volumes: bool = False, images: bool = False, timeout: float = 120,
             echo: bool = True) -> None:
        """``docker compose down`` (``volumes``: also the named volumes; ``images``: the images it built)."""
        args = ["down", "--remove-orphans", "--timeout", "3"]
        if volumes:
            args.append("--volumes")
        if images:
            args += ["--rmi", "local"]
        self.run(*args, timeout=timeout, echo=echo)

    def scale(self, service: str, n: int, *, echo: bool = True) -> None:
        """``docker compose scale SERVICE=N`` (the command line printed first)."""
        self.run("scale", f"{service}={n}", echo=echo)

    def restart(self, *services: str, echo: bool = True) -> None:
        """``docker compose restart [SERVICE...]`` (the command line printed first)."""
        self.run("restart", *services, echo=echo)

    def ps(self, *, all: bool = True) -> list[dict]:
        """The project's containers as ``docker compose ps --format json`` describes them (not printed:
        :meth:`health` polls it; ``show("ps")`` prints the command and the table)."""
        out = self.run("ps", "--format", "json", *(["--all"] if all else []))
        rows = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("["):
                rows += json.loads(line)
            elif line.startswith("{"):
                rows.append(json.loads(line))
        return rows

    def config(self) -> dict:
        """The compose file as Compose understands it (defaults filled, variables replaced)."""
        return json.loads(self.run("config", "--format", "json"))

    def services(self) -> list[str]:
        return self.run("config", "--services").split()

    def logs(self, *services: str, tail: int = 5) -> None:
        """``docker compose logs --no-log-prefix --tail N [SERVICE...]``, command line and output printed."""
        self.show("logs", "--no-log-prefix", "--tail", str(tail), *services)

    def containers(self, service: str | None = None):
        """The project's containers (Docker SDK objects), optionally of one service."""
        flt = {"label": [f"{PROJECT_LABEL}={self.name}"]
               + ([f"{SERVICE_LABEL}={service}"] if service else [])}
        found = engine.client().containers.list(all=True, filters=flt, ignore_removed=True)
        return sorted(found, key=lambda c: c.name)

    def port(self, service: str = "proxy", container_port: int = 80) -> int:
        """The host port published for ``service:container_port`` (``compose port``)."""
        out = self.run("port", service, str(container_port)).strip().splitlines()
        m = re.search(r":(\d+)\s*$", out[-1] if out else "")
        if not m:
            raise ComposeError(f"The {service} service publishes no host port for {container_port}.")
        return int(m.group(1))

    def url(self, path: str = "/", service: str = "proxy", container_port: int = 80) -> str:
        return f"http://127.0.0.1:{self.port(service, container_port)}{path}"

    def exec(self, service: str, *cmd: str, index: int = 1) -> str:
        """``compose exec -T <service> <cmd>``: run a command in a running container."""
        return self.run("exec", "-T", "--index", str(index), service, *cmd)

    def reload_proxy(self, replicas: int, *, service: str = "proxy", timeout: float = 20) -> set[str]:
        """Make nginx re-resolve the upstream name after scaling, and wait until it reaches
        ``replicas`` different replicas.  Returns the upstream addresses seen."""
        import requests

        self.exec(service, "nginx", "-s", "reload")
        url = self.url("/health", service)
        seen: set[str] = set()

        def spread():
            for _ in range(3 * replicas):
                seen.add(requests.get(url, timeout=3).headers.get("X-Upstream", "?"))
            return len(seen - {"?"}) >= replicas and seen

        wait_for(spread, timeout=timeout, what=f"the proxy to reach {replicas} replicas", interval=0.3)
        return seen

    def events_during(self, action, *, settle: float = 1.0) -> list[dict]:
        """Run ``compose events --json`` while ``action()`` runs; returns the events (dicts with
        ``time``, ``type``, ``action``, ``service``, ``id`` and ``attributes``), in order.
        :func:`event_summary` turns one into a short line."""
        import threading

        proc = subprocess.Popen(self.argv("events", "--json"), cwd=self.directory, env=self.environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            time.sleep(0.5)  # let it subscribe before anything happens
            action()
            time.sleep(settle)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            reader.join(2)
        events = []
        for ln in lines:
            try:
                events.append(json.loads(ln))
            except ValueError:
                continue  # a warning line of the tool, not an event
        return events

    def replica_addresses(self, service: str = "tasks") -> dict[str, str]:
        """``{"ip:5000"-style IP: container name}`` for the service's replicas."""
        found = {}
        for c in self.containers(service):
            for net in (c.attrs.get("NetworkSettings", {}).get("Networks") or {}).values():
                if net.get("IPAddress"):
                    found[net["IPAddress"]] = c.name
        return found


#: The columns of ``compose ps`` a lesson needs, narrow enough not to wrap in a notebook:
#: ``app.show("ps", "--format", PS_COLUMNS)``.
#: (``\t`` is written as two characters, as one types it in a shell: Compose turns it into a tab.)
PS_COLUMNS = r"table {{.Name}}\t{{.Service}}\t{{.Status}}\t{{.Ports}}"

#: The attributes worth showing for an event, when it has them.
_EVENT_DETAILS = ("signal", "exitCode")


def event_summary(event: dict) -> str:
    """One short line for an event of :meth:`Project.events_during`: the time (to the
    millisecond), the object's type, the action, the container's name and the one or two
    attributes that explain it (the signal of a ``kill``, the exit code of a ``die``)."""
    attrs = event.get("attributes") or {}
    when = str(event.get("time", ""))
    clock = when[11:23] if len(when) >= 23 else when
    action = str(event.get("action", "?"))
    if ": " in action:  # `exec_start: bash -c ...`, `health_status: healthy`: keep the first words
        verb, _, rest = action.partition(": ")
        action = f"{verb}: {rest if len(rest) <= 20 else rest[:19] + '…'}"
    details = ", ".join(f"{k}={attrs[k]}" for k in _EVENT_DETAILS if k in attrs)
    name = attrs.get("name") or str(event.get("id", ""))[:12]
    return f"{clock}  {event.get('type', '?'):9} {action:16} {name}" + (f"  ({details})" if details else "")


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


def ensure_base_images(directory: str | os.PathLike) -> list[str]:
    """Make the images named in ``FROM`` lines and ``image:`` keys exist locally (no registry)."""
    from helpers.containers.base_images import ensure_image, recipes

    directory = Path(directory)
    names: list[str] = []
    for dockerfile in directory.rglob("Dockerfile"):
        names += re.findall(r"^\s*FROM\s+(\S+)", dockerfile.read_text(), re.M | re.I)
    for compose_file in list(directory.glob("*compose*.y*ml")):
        names += re.findall(r"^\s+image:\s*[\"']?([\w./:-]+)", compose_file.read_text(), re.M)
    done = []
    known = set(recipes())
    for name in dict.fromkeys(names):
        short = name.split(":")[0].rsplit("/", 1)[-1]
        if short in known:
            ensure_image(name, quiet=True)
            done.append(name)
    return done


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
    for path in _workdir_root().iterdir():
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
            subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=_workdir_root())
        except (subprocess.TimeoutExpired, OSError):
            pass  # the Docker clean-up that runs next removes what is left by label
        removed.append(f"compose project {name}")
    for path in _workdir_root().glob(f"{session.NAME_PREFIX}-{sid}-*"):
        shutil.rmtree(path, ignore_errors=True)
    return removed


CLEANER = Cleaner("compose", _owners, _leftovers, _remove)

