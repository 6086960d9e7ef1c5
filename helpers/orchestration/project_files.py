"""The files of a Compose project: a session's working copy, and the session's labels.

* :func:`working_copy` copies ``data/compose/`` (the tasks application) to a
  per-session folder, with the tasks service's package next to its Dockerfile:
  a student may edit that copy freely.
* :func:`write_override` writes the project's second compose file,
  ``session-labels.yaml`` (:data:`OVERRIDE`), from ``docker compose config`` of the
  student's ``compose.yaml``: the session's labels on every service (its containers
  and the image it builds), network and volume, so that the student's file carries
  no workbook label and ``helpers.cleanup()`` still finds everything the project made.
* :func:`ensure_base_images` builds the images named in ``FROM`` lines and
  ``image:`` keys locally (this machine has no registry).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from helpers.core import session
from helpers.orchestration.cli import ComposeError, command, failure_sentence

ROOT = Path(__file__).resolve().parents[2]  # the repository: helpers/orchestration/ is two levels down
COMPOSE_DIR = ROOT / "data" / "compose"
#: The second compose file of every project: the session's labels.
OVERRIDE = "session-labels.yaml"


def workdir_root() -> Path:
    """The folder that holds every session's working copies."""
    path = session.state_dir() / "compose"
    path.mkdir(parents=True, exist_ok=True)
    return path


def working_copy(base: str = "tasks", source: str | os.PathLike = COMPOSE_DIR, *, fresh: bool = True) -> Path:
    """A copy of ``source`` (default ``data/compose``) for this session, ``…/wb-<session>-<base>``.

    The tasks service's package is copied next to ``tasks/Dockerfile`` (as
    ``tasks/helpers/``) so the build context holds only what the image needs.
    """
    source = Path(source)
    if not (source / "compose.yaml").exists():
        raise ComposeError(f"There is no compose.yaml in {source}: point to a folder that has one.")
    target = workdir_root() / session.resource_name(base)
    if fresh and target.exists():
        shutil.rmtree(target)
    if not target.exists():
        shutil.copytree(source, target)
    copy_tasks_package(target)
    return target


def copy_tasks_package(directory: str | os.PathLike) -> None:
    """Put the tasks service in ``directory/tasks/helpers/`` when the project builds it, so that the
    image runs ``python3 -m helpers.services.tasks`` exactly as on the host."""
    folder = Path(directory) / "tasks"
    if (folder / "Dockerfile").exists():
        from helpers.services.tasks import package_into

        package_into(folder)


def write_override(directory: str | os.PathLike, name: str, env: dict[str, str] | None = None) -> Path:
    """Write ``session-labels.yaml`` beside ``compose.yaml`` in ``directory`` (project ``name``).

    It is read from ``docker compose -f compose.yaml config --format json`` of the project's own
    file, so a service, network or volume the student adds is labelled too once this runs again."""
    import yaml

    done = subprocess.run(command() + ["-f", "compose.yaml", "-p", name, "config", "--format", "json"],
                          cwd=directory, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise ComposeError(failure_sentence("config", done.stdout + done.stderr))
    model = json.loads(done.stdout)
    labels = session.labels()
    override: dict = {"services": {}}
    for service, spec in (model.get("services") or {}).items():
        entry: dict = {"labels": dict(labels)}
        if spec.get("build"):
            entry["build"] = {"labels": dict(labels)}
        override["services"][service] = entry
    for kind in ("networks", "volumes"):
        own = {n: {"labels": dict(labels)} for n, spec in (model.get(kind) or {}).items()
               if not (spec or {}).get("external")}
        if own:
            override[kind] = own
    path = Path(directory) / OVERRIDE
    path.write_text("# Written by helpers.orchestration.project_files from `docker compose config` of compose.yaml:\n"
                    "# the labels that make every object of this project the workbook session's.\n"
                    + yaml.safe_dump(override, sort_keys=False, default_flow_style=False))
    return path


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
