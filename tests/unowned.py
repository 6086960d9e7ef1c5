"""What a notebook created that no session owns: the leaks that ``helpers.cleanup()`` can never find.

``cleanup.leftovers(sid)`` sees what carries a session's label or name. A container
started in a ``%%bash`` cell without ``--label org.cloud-workbook.session=…`` and
without a ``wb-<session>-`` name, or an anonymous volume that a removed container
left, belongs to nobody: it would stay on the student's machine for ever. This
takes a snapshot of the Docker engine and of libvirt (``qemu:///system``) before a
notebook runs and reports, after it, every new object that neither carries a
workbook session label nor a ``wb-`` name.
"""

from __future__ import annotations

import re

from helpers.core.session import NAME_PREFIX, SESSION_LABEL

#: Objects the engine makes by itself when swarm mode is switched on (and keeps after it is off).
ENGINE_OWN = {"docker_gwbridge", "ingress"}
PROJECT_LABEL = "com.docker.compose.project"
_BUILD_STEP = re.compile(r"^(sha256:)?[0-9a-f]{12,64}$")


def _owned(name: str, labels: dict | None) -> bool:
    labels = labels or {}
    return (name.lstrip("/").startswith(NAME_PREFIX + "-") or SESSION_LABEL in labels
            or labels.get(PROJECT_LABEL, "").startswith(NAME_PREFIX + "-") or name in ENGINE_OWN)


def _docker() -> dict[str, dict[str, dict]]:
    try:
        import docker

        api = docker.from_env(timeout=20).api
        return {
            # A build step's container (the classic builder's) runs an image by its bare id, and
            # the builder removes it: it is nobody's leak, even while a build is under way.
            "container": {c["Id"]: {"name": (c.get("Names") or ["?"])[0], "labels": c.get("Labels")}
                          for c in api.containers(all=True) if not _BUILD_STEP.match(c.get("Image") or "")},
            "volume": {v["Name"]: {"name": v["Name"], "labels": v.get("Labels")}
                       for v in api.volumes().get("Volumes") or []},
            "network": {n["Id"]: {"name": n["Name"], "labels": n.get("Labels")} for n in api.networks()},
        }
    except Exception:  # no daemon: nothing to compare
        return {}


def _libvirt() -> dict[str, dict[str, dict]]:
    try:
        import libvirt

        libvirt.registerErrorHandler(lambda *_: None, None)
        conn = libvirt.open("qemu:///system")
    except Exception:
        return {}
    try:
        found = {}
        for kind, listing in (("domain", conn.listAllDomains), ("libvirt network", conn.listAllNetworks),
                              ("storage pool", conn.listAllStoragePools)):
            found[kind] = {}
            for obj in listing():
                try:
                    found[kind][obj.UUIDString()] = {"name": obj.name(), "labels": None}
                except Exception:  # removed meanwhile
                    pass
        return found
    finally:
        conn.close()


def snapshot() -> dict[str, dict[str, dict]]:
    return {**_docker(), **_libvirt()}


def new_unowned(before: dict, after: dict) -> list[str]:
    """Objects in ``after`` and not in ``before`` that no workbook session owns, as 'kind name'."""
    leaks = []
    for kind, objects in after.items():
        for key, obj in objects.items():
            if key not in before.get(kind, {}) and not _owned(obj["name"], obj["labels"]):
                leaks.append(f"{kind} {obj['name'].lstrip('/')}")
    return sorted(leaks)
