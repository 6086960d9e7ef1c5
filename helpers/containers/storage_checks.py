"""Exercise checkers for the storage notebook, run against the real engine.

:func:`check_data_survives` answers "does this ``volumes=`` setting keep the
data in a named volume, beyond the container's life?" by doing it: a first
container appends a unique line to ``/data/notes.txt`` and is removed (with
its anonymous volumes, like ``docker rm -v``), then a second container with
the same setting reads the file.  It returns a :class:`helpers.core.verdict.Verdict`
that says case by case what is wrong, with a hint that does not give the
solution away.

The check judges the student's answer, not the session's history: the line
is new for every check, so no earlier file can stand in for it, and after
:func:`begin_exercise` (the notebook calls it when the exercise starts) a
volume that an earlier cell of the notebook created is refused: the answer
must name a volume of its own.

Volume names are engine-wide, so a bare name such as ``notes`` is run as
this session's ``wb-<session>-notes`` (:func:`helpers.core.session.resource_name`):
two notebooks checking the same answer at once never share a volume.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from datetime import datetime

from helpers.containers import engine
from helpers.core import session
from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict

TARGET = "/data"
FILE = "/data/notes.txt"
TITLE = "Exercise: the data outlive the container, in a named volume"

#: When the exercise began (seconds since the epoch), set by :func:`begin_exercise`.
_BEGAN: dict[str, float] = {}

START_HINT = ("set my_volumes to one volume mounted at /data, in the form "
              "{'name': {'bind': '/data', 'mode': 'rw'}} or ['name:/data'], then run the check")


def begin_exercise() -> None:
    """From now on, :func:`check_data_survives` refuses volumes created before this call."""
    _BEGAN["data_survives"] = time.time()


def _created(volume_attrs: dict) -> float:
    """When the engine created a volume (seconds since the epoch; 0 if unknown)."""
    text = str(volume_attrs.get("CreatedAt", ""))
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return 0.0
    zone = "+00:00" if m.group(3) in (None, "Z") else m.group(3)
    return datetime.fromisoformat(m.group(1) + (m.group(2) or ".0")[:7] + zone).timestamp()


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
    if source.startswith(("/", ".", "~", "<anonymous")):
        return source
    owner = session.session_of(source)
    if owner == session.SESSION_ID:
        return source
    if owner is not None:
        raise WorkbookError(f"The volume {source!r} belongs to another notebook's session ({owner}): "
                            f"name yours with helpers.core.session.resource_name(...).")
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


def _existing_volume(name: str) -> dict | None:
    import docker.errors

    try:
        return engine.client().volumes.get(name).attrs
    except docker.errors.NotFound:
        return None


def _run_once(volumes: dict[str, dict], command: str):
    """Run ``command`` with the setting; return (exit code, output). Removes the container and its anonymous volumes."""
    from docker.types import Mount

    from helpers.containers.storage import create_volume

    named = {k: v for k, v in volumes.items() if not k.startswith("<anonymous")}
    mounts = [Mount(v["bind"], None, type="volume", labels=session.labels())
              for k, v in volumes.items() if k.startswith("<anonymous")]
    # A named volume that does not exist yet would be created by the engine,
    # without labels; create it first so that it carries the session's.
    for source in named:
        if not source.startswith("/"):
            create_volume(source)  # reuses this session's volume of that name
    container = engine.run("debian", ["bash", "-c", command], detach=True, quiet=True,
                                  name=session.resource_name(f"check-{uuid.uuid4().hex[:6]}"),
                                  volumes=named, mounts=mounts)
    try:
        code = container.wait(timeout=60).get("StatusCode", 1)
        out = container.logs().decode(errors="replace").strip()
    finally:
        container.remove(force=True, v=True)
    return code, out


def check_data_survives(volumes) -> Verdict:
    """Does the ``volumes=`` setting keep ``/data/notes.txt`` in a named volume after the container is removed?

    ``volumes`` is what you would pass to ``client.containers.run(..., volumes=...)``:
    ``{"name": {"bind": "/data", "mode": "rw"}}`` or ``["name:/data"]``.
    """
    v = Verdict(TITLE)
    if volumes is None or (isinstance(volumes, (dict, list, tuple, str)) and not volumes):
        return v.not_attempted("my_volumes mounts nothing yet: without a volume, what a container writes goes "
                               "to its own layer, which is deleted with the container.", hint=START_HINT)
    try:
        spec = _normalise(volumes)
    except WorkbookError as exc:
        hint = ("the path inside the container starts with /, e.g. '/data'" if "absolute" in str(exc) else
                "use a name of your own (a bare name such as 'notes' is made this session's)"
                if "another notebook" in str(exc) else START_HINT)
        v.fail(str(exc), hint=hint)
        return v
    at_data = {k: s for k, s in spec.items() if s["bind"].rstrip("/") == TARGET}
    if not at_data:
        where = ", ".join(s["bind"] for s in spec.values())
        v.fail(f"Something is mounted ({where}), but not at {TARGET}, where the program writes: "
               f"{FILE} still lands in the container's own layer.",
               hint=f"mount the volume at {TARGET}, the folder the program writes to")
        return v
    binds = [k for k in at_data if k.startswith(("/", ".", "~"))]
    if binds:
        v.fail(f"{binds[0]} is a host folder, so this is a bind mount, not a volume: the data would stay on "
               f"this host's disk, tied to that folder, and Docker does not manage them.",
               hint="give a volume name (such as 'notes') instead of a host path")
        return v
    began = _BEGAN.get("data_survives")
    for name in at_data:
        if name.startswith("<anonymous"):
            continue
        attrs = _existing_volume(name)
        # The engine gives whole seconds: a volume made in the second the exercise began counts as new.
        if began is not None and attrs is not None and _created(attrs) < math.floor(began):
            v.fail(f"The volume {name!r} was made by an earlier cell of this notebook (before the exercise began), "
                   f"so whatever it shows is not your answer's doing.",
                   hint="name a new volume of your own for the exercise, e.g. 'notes'")
            return v
    token = uuid.uuid4().hex[:8]
    code, out = _run_once(spec, f"mkdir -p {TARGET} && echo {token} >> {FILE} && echo written")
    if code != 0:
        if "Read-only" in out:
            v.fail(f"The first container could not write {FILE}: the mount is read-only (mode 'ro').",
                   hint="a container that must write needs the mode 'rw'")
        else:
            v.fail(f"The first container could not write {FILE}: {out.splitlines()[-1] if out else code}.",
                   hint=START_HINT)
        return v
    v.ok(f"A first container wrote a new line to {FILE} and was removed.")
    code, out = _run_once(spec, f"cat {FILE} 2>/dev/null || true")
    if token in out:
        names = ", ".join(repr(k) for k in at_data)
        v.ok(f"A second container read that line back from the named volume {names}: the data outlived "
             f"the container that wrote them.")
        return v
    if any(k.startswith("<anonymous") for k in at_data):
        v.fail(f"{TARGET} is an anonymous volume: each new container gets a new, empty one, and removing the "
               f"container with -v (or --rm) deletes it.",
               hint="give the volume a name, so that the next container mounts the same one")
    else:
        v.fail("The second container did not find the line the first one wrote.",
               hint="use a volume of the local driver kept on disk (a tmpfs volume forgets everything "
                    "once no container uses it)")
    return v


__all__ = ["Verdict", "begin_exercise", "check_data_survives"]
