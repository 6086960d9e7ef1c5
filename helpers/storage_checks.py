"""Exercise checkers for the storage notebook, run against the real engine.

:func:`check_data_survives` answers "does this ``volumes=`` setting make the
data survive the container?" by doing it: a first container appends a line
to ``/data/notes.txt`` and is removed (with its anonymous volumes, like
``docker rm -v``), then a second container with the same setting reads the
file.  The verdict says case by case what is wrong, without giving the
solution away.

Volume names are engine-wide, so a bare name such as ``notes`` is run as
this session's ``wb-<session>-notes`` (:func:`helpers.session.resource_name`):
two notebooks checking the same answer at once never share a volume.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from . import docker_engine, session
from .errors import WorkbookError

TARGET = "/data"
FILE = "/data/notes.txt"


@dataclass
class Verdict:
    """The outcome of a check: ``passed`` and one line per finding."""

    passed: bool
    lines: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = "PASSED" if self.passed else "NOT YET"
        return "\n".join([f"{head}:"] + [f"  - {line}" for line in self.lines])

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        items = "".join(f"<li>{line}</li>" for line in self.lines)
        return (f"<div style='border-left:6px solid {colour};padding:4px 10px'>"
                f"<b style='color:{colour}'>{'PASSED' if self.passed else 'NOT YET'}</b><ul>{items}</ul></div>")


def _normalise(volumes) -> dict[str, dict]:
    """Accept the SDK's dict form or the CLI-like list form (``["name:/data:ro"]``); paths inside must be absolute."""
    out = _parse(volumes)
    for source, spec in out.items():
        if not str(spec["bind"]).startswith("/"):
            raise WorkbookError(f"The path inside the container must be absolute (start with /), and "
                                f"{spec['bind']!r} (for {source!r}) is not.")
    return {_session_volume(source): spec for source, spec in out.items()}


def _session_volume(source: str) -> str:
    """A volume name as this session runs it: ``notes`` -> ``wb-<session>-notes``.

    Host paths and anonymous volumes stay as they are, and so does a name
    already made by ``resource_name`` for this session.
    """
    if source.startswith(("/", "<anonymous")):
        return source
    owner = session.session_of(source)
    if owner == session.SESSION_ID:
        return source
    if owner is not None:
        raise WorkbookError(f"The volume {source!r} belongs to another notebook's session ({owner}): "
                            f"name yours with helpers.session.resource_name(...).")
    return session.resource_name(source)


def _parse(volumes) -> dict[str, dict]:
    if volumes is None:
        return {}
    if isinstance(volumes, str):
        volumes = [volumes]
    if isinstance(volumes, dict):
        out = {}
        for source, spec in volumes.items():
            if isinstance(spec, str):
                spec = {"bind": spec, "mode": "rw"}
            if not isinstance(spec, dict) or "bind" not in spec:
                raise WorkbookError(f"The setting for {source!r} should look like {{'bind': '/data', 'mode': 'rw'}}.")
            out[str(source)] = {"bind": spec["bind"], "mode": spec.get("mode", "rw")}
        return out
    if isinstance(volumes, (list, tuple)):
        out = {}
        for item in volumes:
            parts = str(item).split(":")
            if len(parts) == 1:
                out[f"<anonymous {parts[0]}>"] = {"bind": parts[0], "mode": "rw"}
            else:
                out[parts[0]] = {"bind": parts[1], "mode": parts[2] if len(parts) > 2 else "rw"}
        return out
    raise WorkbookError("volumes should be a dict like {'name': {'bind': '/data', 'mode': 'rw'}} "
                        "or a list like ['name:/data'].")


def _run_once(volumes: dict[str, dict], command: str):
    """Run ``command`` with the setting; return (exit code, output). Removes the container and its anonymous volumes."""
    from docker.types import Mount

    named = {k: v for k, v in volumes.items() if not k.startswith("<anonymous")}
    mounts = [Mount(v["bind"], None, type="volume", labels=docker_engine.labels())
              for k, v in volumes.items() if k.startswith("<anonymous")]
    # A named volume that does not exist yet is created by the engine; create
    # it ourselves first so that it carries the session labels.
    from .docker_storage import create_volume

    for source in named:
        if not source.startswith("/"):
            create_volume(source)  # reuses this session's volume of that name
    container = docker_engine.run("debian", ["bash", "-c", command], detach=True, quiet=True,
                                  name=session.resource_name(f"check-{uuid.uuid4().hex[:6]}"),
                                  volumes=named, mounts=mounts)
    try:
        code = container.wait(timeout=60).get("StatusCode", 1)
        out = container.logs().decode(errors="replace").strip()
    finally:
        container.remove(force=True, v=True)
    return code, out


def check_data_survives(volumes) -> Verdict:
    """Does the ``volumes=`` setting keep ``/data/notes.txt`` after the container is removed?

    ``volumes`` is what you would pass to ``docker_engine.run(..., volumes=...)``:
    ``{"name": {"bind": "/data", "mode": "rw"}}`` or ``["name:/data"]``.
    """
    try:
        spec = _normalise(volumes)
    except WorkbookError as exc:
        return Verdict(False, [str(exc)])
    lines: list[str] = []
    at_data = {k: v for k, v in spec.items() if v["bind"].rstrip("/") == TARGET}
    if not spec:
        lines.append("There is no volume or bind mount at all: files written in the container go to its "
                     "writable layer, which is deleted with the container.")
    elif not at_data:
        where = ", ".join(v["bind"] for v in spec.values())
        lines.append(f"Something is mounted ({where}), but not at {TARGET}, where the program writes: "
                     f"{FILE} still lands in the container layer.")
    token = uuid.uuid4().hex[:8]
    code, out = _run_once(spec, f"mkdir -p {TARGET} && echo {token} >> {FILE} && echo written")
    if code != 0:
        if "Read-only" in out:
            lines.append(f"The first container could not write {FILE}: the mount is read-only (mode 'ro'). "
                         f"A container that must write needs 'rw'.")
        else:
            lines.append(f"The first container could not write {FILE}: {out.splitlines()[-1] if out else code}.")
        return Verdict(False, lines)
    code, out = _run_once(spec, f"cat {FILE} 2>/dev/null || true")
    survived = token in out
    if survived:
        kinds = ["a bind mount of the host folder " + k if k.startswith("/") else f"the named volume {k!r}"
                 for k in at_data]
        lines.append(f"A first container wrote a line to {FILE} and was removed; a second container read it "
                     f"back through {', '.join(kinds)}.")
        if any(k.startswith("/") for k in at_data):
            lines.append("A bind mount works, but ties the container to this host's folders; a named volume "
                         "is what Docker recommends.")
        return Verdict(True, lines)
    if any(k.startswith("<anonymous") for k in at_data):
        lines.append(f"{TARGET} is an anonymous volume: each new container gets a new, empty one, and "
                     f"removing the container with -v (or --rm) deletes it. Give the volume a name.")
    elif at_data:
        lines.append("The file written by the first container was not there for the second one.")
    return Verdict(False, lines or ["The data did not survive the container."])
