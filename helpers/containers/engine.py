"""The Docker Engine, reached through the Docker SDK.

This module holds what every Docker lesson shares: one client whose connection errors a
student can read (:func:`client`, :func:`available`), the one ownership test (:func:`owned`:
does an object carry this session's label), the filters that select a session's objects,
the clean-up of a session's containers, networks, volumes and images, and :func:`run`, the
one helper that runs a *workbook-internal* container (a helper's throw-away tool, never a
lesson's own ``docker run``, which a cell shows with ``client.containers.run``).

Labels come from :func:`helpers.core.session.labels`, names from
:func:`helpers.core.session.resource_name`, SDK errors are explained by
:func:`helpers.core.errors.explain`.
"""

from __future__ import annotations

import functools
from typing import Any

from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import DaemonUnavailable, WorkbookError, as_workbook_error

DAEMON_DOWN = ("The Docker daemon does not answer: start it (`sudo systemctl start docker`, "
               "or `make lab` as root, or open Docker Desktop) and run the cell again.")


@functools.lru_cache(maxsize=1)
def _cached_client():
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        text = str(exc)
        if "Permission denied" in text:
            raise DaemonUnavailable(
                "You may not talk to the Docker daemon: add yourself to the docker group "
                "(`sudo usermod -aG docker $USER`) and log in again.") from None
        raise DaemonUnavailable(DAEMON_DOWN) from None
    return client


def client():
    """A ready :class:`docker.DockerClient`; raises one clear sentence when the daemon is down."""
    try:
        cli = _cached_client()
        cli.ping()
        return cli
    except DaemonUnavailable:
        raise
    except Exception:
        _cached_client.cache_clear()
        return _cached_client()


def available() -> bool:
    """True when the Docker daemon answers."""
    try:
        client()
        return True
    except WorkbookError:
        return False


def owned(obj) -> bool:
    """True when ``obj`` (a container, network, volume or image of the SDK, or its labels as a dict)
    carries this session's label: the one ownership test of the Docker helpers."""
    if obj is None:
        return False
    if isinstance(obj, dict):
        found = obj
    else:
        attrs = getattr(obj, "attrs", None) or {}
        found = (attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {}
    return (found or {}).get(session.SESSION_LABEL) == session.SESSION_ID


def session_filter(sid: str | None = None) -> dict[str, Any]:
    """A ``filters=`` argument selecting the objects of session ``sid`` (default: this one)."""
    return {"label": [f"{session.SESSION_LABEL}={sid or session.SESSION_ID}"]}


def workbook_filter() -> dict[str, Any]:
    """A ``filters=`` argument selecting every object a workbook session created.

    The session label alone marks ownership, so that an object made in a terminal with one
    ``--label org.cloud-workbook.session=$WORKBOOK_SESSION`` is cleaned up like the SDK's."""
    return {"label": [session.SESSION_LABEL]}


# --- clean-up ------------------------------------------------------------------

def _this_host(obj_labels: dict | None) -> bool:
    # Objects made by the same workbook on another machine sharing this
    # daemon belong to sessions we cannot check: leave them alone.
    obj_labels = obj_labels or {}
    return obj_labels.get(session.HOST_LABEL, session.HOSTNAME) == session.HOSTNAME


def summaries(sid: str | None = None):
    """Containers, networks, volumes and images of session ``sid`` (or of every session).

    Uses the engine's list summaries, not one inspect per object: another
    user's container may vanish between a list and an inspect.
    """
    cli = client()
    flt = session_filter(sid) if sid else workbook_filter()
    images = cli.api.images(filters=flt)
    # An image named wb-<session>-… is the session's even without its labels (a build stopped
    # half-way leaves its unlabelled first stage under such a name).
    seen = {i["Id"] for i in images}
    for img in cli.api.images(filters={"reference": f"{session.NAME_PREFIX}-{sid or '*'}-*"}):
        if img["Id"] not in seen and any(session.session_of(t) for t in img.get("RepoTags") or []):
            images.append({**img, "Labels": {**(img.get("Labels") or {}),
                                             session.SESSION_LABEL: session.session_of(img["RepoTags"][0])}})
            seen.add(img["Id"])
    return (cli.api.containers(all=True, filters=flt), cli.api.networks(filters=flt),
            (cli.api.volumes(filters=flt) or {}).get("Volumes") or [], images)


def _owners() -> set[str]:
    found: set[str] = set()
    for items in summaries(None):
        for obj in items:
            lab = obj.get("Labels") or {}
            if _this_host(lab) and session.SESSION_LABEL in lab:
                found.add(lab[session.SESSION_LABEL])
    return found


def _describe(kind: str, obj: dict) -> str:
    if kind == "container":
        return f"container {(obj.get('Names') or ['/' + obj['Id'][:12]])[0].lstrip('/')}"
    if kind == "image":
        return f"image {(obj.get('RepoTags') or [obj['Id'][7:19]])[0]}"
    return f"{kind} {obj['Name']}"


def _leftovers(sid: str) -> list[str]:
    if not available():
        return []
    containers, networks, volumes, images = summaries(sid)
    return ([_describe("container", c) for c in containers] + [_describe("network", n) for n in networks]
            + [_describe("volume", v) for v in volumes] + [_describe("image", i) for i in images])


def _remove(sid: str) -> list[str]:
    import docker.errors

    if not available():
        return []
    api = client().api
    removed = []
    containers, networks, volumes, images = summaries(sid)
    for c in containers:  # containers first: they hold networks and volumes
        try:
            api.remove_container(c["Id"], force=True, v=True)
        except docker.errors.NotFound:
            pass
        removed.append(_describe("container", c))
    for n in networks:
        try:
            for cid in (api.inspect_network(n["Id"]).get("Containers") or {}):
                try:
                    api.disconnect_container_from_network(cid, n["Id"], force=True)
                except docker.errors.APIError:
                    pass
            api.remove_network(n["Id"])
        except docker.errors.NotFound:
            pass
        removed.append(_describe("network", n))
    for v in volumes:
        try:
            api.remove_volume(v["Name"], force=True)
        except docker.errors.NotFound:
            pass
        removed.append(_describe("volume", v))
    # Newest first, so that child images go before the images they are built on.  Never forced:
    # a forced removal also deletes the untagged parents that another session's build (sharing
    # the engine's build cache) is using at that moment, which breaks that build and strands its
    # intermediate containers.  Each name is removed (untagged) in turn; the last one deletes.
    for img in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
        names = [t for t in (img.get("RepoTags") or []) if t != "<none>:<none>"]
        try:
            for name in names[:-1]:
                api.remove_image(name)
            api.remove_image(names[-1] if names else img["Id"])
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError:
            continue  # still used by a container of another session: leave it
        removed.append(_describe("image", img))
    return removed


CLEANER = Cleaner("docker", _owners, _leftovers, _remove)


# --- the one workbook-internal container runner ---------------------------------

def run(image: str, command=None, *, timeout: float = 300, **kwargs):
    """Run a container that a *helper* needs (a throw-away tool, a checker's server), labelled.

    Lessons do not use this: a cell calls ``client.containers.run(...)`` itself.  What it adds
    to the SDK call: ``image`` may be a chapter name (``debian``, ``python``) made available with
    :func:`helpers.containers.base_images.ensure_image` first (``quiet=`` is passed on); the
    session labels are merged in; ``remove=True`` without ``detach`` waits, returns the output and
    removes the container *with* its anonymous volumes (the SDK's ``remove`` leaves those of an
    image that declares ``VOLUME``), waiting ``timeout`` seconds at most; a failure is raised as one
    :func:`helpers.core.errors.as_workbook_error` sentence.
    Other keyword arguments are those of ``client().containers.run``.
    """
    import docker.errors

    from helpers.containers.base_images import ensure_image

    ensure_image(image, quiet=kwargs.pop("quiet", False))
    kwargs["labels"] = {**session.labels(), **(kwargs.get("labels") or {})}
    remove = kwargs.pop("remove", False)
    try:
        if not remove or kwargs.get("detach"):
            return client().containers.run(image, command, **kwargs, remove=remove)
        stdout, stderr = kwargs.pop("stdout", True), kwargs.pop("stderr", False)
        container = client().containers.create(image, command, **kwargs)
        try:
            container.start()
            status = container.wait(timeout=timeout).get("StatusCode", 0)
            output = container.logs(stdout=stdout, stderr=stderr)
            if status != 0:
                err = container.logs(stdout=False, stderr=True).decode(errors="replace").strip().splitlines()
                raise WorkbookError(f"The command in the {image} container failed with exit code {status}"
                                    + (f": {err[-1]}" if err else "."))
            return output
        finally:
            try:
                container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
    except docker.errors.DockerException as exc:
        raise as_workbook_error(exc) from None
