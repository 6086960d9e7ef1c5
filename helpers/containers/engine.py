"""The Docker Engine, reached through the Docker SDK.

This module holds what every Docker lesson shares: one client with errors a
student can read, the workbook labels on everything created, and the
clean-up of a session's containers, networks, volumes and images.
"""

from __future__ import annotations

import functools
from typing import Any

from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import DaemonUnavailable, WorkbookError

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


def labels(**extra: str) -> dict[str, str]:
    """Labels to put on anything this session creates."""
    return session.labels(**extra)


def session_filter(sid: str | None = None) -> dict[str, Any]:
    """A ``filters=`` argument selecting the objects of session ``sid`` (default: this one)."""
    return {"label": [f"{session.SESSION_LABEL}={sid or session.SESSION_ID}"]}


def workbook_filter() -> dict[str, Any]:
    """A ``filters=`` argument selecting every object a workbook session created.

    The session label alone marks ownership, so that an object made in a terminal with one
    ``--label org.cloud-workbook.session=$WORKBOOK_SESSION`` is cleaned up like the SDK's."""
    return {"label": [session.SESSION_LABEL]}


# --- clean-up ------------------------------------------------------------------

def _ours(obj_labels: dict | None) -> bool:
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
            if _ours(lab) and session.SESSION_LABEL in lab:
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


# --- creating things, labelled --------------------------------------------------

def explain_api_error(exc: Exception, what: str) -> WorkbookError:
    """Turn a Docker SDK error into one sentence about ``what`` was being done."""
    import docker.errors

    text = getattr(exc, "explanation", None) or str(exc)
    if isinstance(exc, docker.errors.ImageNotFound):
        return WorkbookError(f"{what}: the image does not exist here; check its name or build it first.")
    if isinstance(exc, docker.errors.NotFound):
        return WorkbookError(f"{what}: no such object ({text}). List what exists with docker ps -a / network ls / volume ls.")
    if "port is already allocated" in text or "address already in use" in text:
        return WorkbookError(f"{what}: that host port is already in use; publish a different port or stop what uses it.")
    if "is already in use" in text:
        return WorkbookError(f"{what}: that name is already in use; pick another name or remove the old object first.")
    return WorkbookError(f"{what}: the Docker engine refused: {text}")


def run(image: str, command=None, **kwargs):
    """``docker run`` through the SDK, labelled for this session.

    ``image`` may be a chapter name (``debian``, ``python``): it is made
    available with :func:`helpers.containers.base_images.ensure_image` first.  Other keyword
    arguments are those of ``client().containers.run`` (``detach``, ``name``,
    ``ports``, ``network``, ``volumes``, ``remove``...).
    """
    import docker.errors

    from helpers.containers.base_images import ensure_image

    ensure_image(image, quiet=kwargs.pop("quiet", False))
    kwargs["labels"] = {**labels(), **(kwargs.get("labels") or {})}
    remove = kwargs.pop("remove", False)
    try:
        if not remove or kwargs.get("detach"):
            return client().containers.run(image, command, **kwargs, remove=remove)
        # ``--rm`` done here rather than by the SDK, which would leave the
        # anonymous volumes of images that declare VOLUME behind.
        stdout, stderr = kwargs.pop("stdout", True), kwargs.pop("stderr", False)
        container = client().containers.create(image, command, **kwargs)
        try:
            container.start()
            status = container.wait().get("StatusCode", 0)
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
    except docker.errors.ContainerError as exc:
        err = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise WorkbookError(f"The command in the {image} container failed with exit code {exc.exit_status}"
                            + (f": {err[-1]}" if err else ".")) from None
    except docker.errors.APIError as exc:
        raise explain_api_error(exc, f"Running a {image} container") from None
