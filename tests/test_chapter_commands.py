"""Every command the chapter names is run for real in CLI form in some notebook.

The chapter teaches `docker …`, `docker compose …` and `virsh …` commands; the
notebooks call the SDK (docker-py, libvirt-python) in Python cells and run the
same operation as a command beside it.  This test reads the committed notebooks
(nothing is executed) and looks, for each command, for a line that runs it:

* in a ``%%bash`` cell (or a ``!`` line): the command itself, e.g.
  ``docker container pause wb-$WORKBOOK_SESSION-life``;
* for ``virsh``, also in a string passed to the notebook's ``virsh(conn, "…")``
  runner, which prints the full command line it ran (07 and 08 run on the
  simulated ``test:///default`` driver too, whose state a separate ``virsh``
  process cannot see).

Where the chapter's form is out of date (``docker-compose`` with a hyphen, a
``docker-compose scale``), the test asks for today's form.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# command -> regular expression that a shell line running it matches
DOCKER = {
    "docker run": r"docker (container )?run\b",
    "docker create": r"docker (container )?create\b",
    "docker start": r"docker (container )?start\b",
    "docker stop": r"docker (container )?stop\b",
    "docker restart": r"docker (container )?restart\b",
    "docker pause": r"docker (container )?pause\b",
    "docker unpause": r"docker (container )?unpause\b",
    "docker attach": r"docker (container )?attach\b",
    "docker exec": r"docker (container )?exec\b",
    "docker logs": r"docker (container )?logs\b",
    "docker inspect": r"docker (container |image |volume |network )?inspect\b",
    "docker ps": r"docker (container )?(ps|ls)\b",
    "docker rm": r"docker (container )?(rm|remove)\b",
    "docker diff": r"docker (container )?diff\b",
    "docker commit": r"docker (container )?commit\b",
    "docker port": r"docker (container )?port\b",
    "docker info": r"docker (system )?info\b",
    "docker build": r"docker (image )?build\b",
    "docker images": r"docker (images|image ls)\b",
    "docker pull": r"docker (image )?pull\b",
    "docker push": r"docker (image )?push\b",
    "docker tag": r"docker (image )?tag\b",
    "docker rmi": r"docker (rmi|image rm)\b",
    "docker save": r"docker (image )?save\b",
    "docker load": r"docker (image )?load\b",
    "docker volume create": r"docker volume create\b",
    "docker volume inspect": r"docker volume inspect\b",
    "docker volume ls": r"docker volume ls\b",
    "docker volume rm": r"docker volume rm\b",
    "docker volume prune": r"docker volume prune\b",
    "docker network create": r"docker network create\b",
    "docker network ls": r"docker network ls\b",
    "docker network connect": r"docker network connect\b",
    "docker network disconnect": r"docker network disconnect\b",
    "docker plugin install": r"docker plugin install\b",
    # the chapter's docker-compose (v1, a separate program) is `docker compose` (v2, a CLI plugin) today
    "docker compose up": r"docker compose .*\bup\b",
    "docker compose down": r"docker compose .*\bdown\b",
    "docker compose ps": r"docker compose .*\bps\b",
    "docker compose logs": r"docker compose .*\blogs\b",
    "docker compose scale": r"docker compose .*(\bscale\b|up .*--scale)",
    "docker compose restart": r"docker compose .*\brestart\b",
}

VIRSH = ("list define undefine create start suspend resume shutdown destroy save restore dumpxml dominfo "
         "capabilities net-define net-create net-start net-list net-info net-destroy net-undefine "
         "pool-define pool-create pool-start pool-list pool-info pool-destroy pool-undefine "
         "vol-create vol-list vol-info vol-delete").split()


def _cells():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                yield path.name, cell.source


def _shell_lines():
    """(notebook, line) for every line a shell runs: %%bash cells and ! lines."""
    for name, source in _cells():
        lines = source.splitlines()
        if lines and lines[0].startswith("%%bash"):
            yield from ((name, line) for line in lines[1:] if not line.lstrip().startswith("#"))
        else:
            yield from ((name, line.lstrip()[1:]) for line in lines if line.lstrip().startswith("!"))


def _virsh_texts():
    """(notebook, text) for each virsh invocation: a %%bash cell that runs virsh, or a virsh(conn, …) call."""
    for name, source in _cells():
        if source.startswith("%%bash") and "virsh" in source:
            yield name, "\n".join(l for l in source.splitlines() if not l.lstrip().startswith("#"))
        for call in re.finditer(r"\bvirsh\(conn\s*,(.*?)\)(?:\.|\)|,|\s*$)", source, re.M | re.S):
            strings = re.findall(r"[fr]?\"([^\"]*)\"|[fr]?'([^']*)'", call.group(1))
            yield name, " ".join(a or b for a, b in strings)


@pytest.mark.parametrize("command", sorted(DOCKER))
def test_every_docker_command_of_the_chapter_runs_in_a_shell_cell(command):
    rx = re.compile(r"(^|[\s;|&(`$])" + DOCKER[command])
    found = [name for name, line in _shell_lines() if rx.search(line)]
    assert found, f"no %%bash cell runs `{command}` (expected a line matching {DOCKER[command]!r})"


@pytest.mark.parametrize("verb", VIRSH)
def test_every_virsh_command_of_the_chapter_runs(verb):
    rx = re.compile(r"(?<![\w-])" + re.escape(verb) + r"(?![\w-])")
    found = [name for name, text in _virsh_texts() if rx.search(text)]
    assert found, f"no %%bash cell or virsh(conn, ...) call runs `virsh {verb}`"
