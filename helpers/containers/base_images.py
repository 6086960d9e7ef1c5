"""Images by the names the chapter uses, with or without a registry.

:func:`ensure_image` returns a usable image for a name such as ``debian``,
``python`` or ``nginx``: the local one if present, else a pull from the
registry, else a local build from a recipe in ``data/images/<name>/``.

* ``debian`` is built from a ``debootstrap --variant=minbase`` root file
  system, fetched from the package mirror this machine's apt already uses
  (read at run time), and turned into an image with ``docker import``.
* Every other recipe is an ordinary Dockerfile (``FROM debian`` + packages),
  built with the host's network so that ``apt-get`` reaches the same mirror.

Locally built images carry the base-image label: they are a cache that
clean-up keeps, not a session's resource.  Command line::

    python -m helpers.containers.base_images ensure debian python
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from helpers.containers import engine
from helpers.core import session
from helpers.core.errors import WorkbookError

RECIPES_DIR = Path(__file__).resolve().parents[2] / "data" / "images"
BASE_LABELS = {session.WORKBOOK_LABEL: "1", session.BASE_IMAGE_LABEL: "1"}


def split_ref(name: str) -> tuple[str, str]:
    """``"debian"`` -> ``("debian", "latest")``; ``"registry:2"`` -> ``("registry", "2")``."""
    repo, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
    return repo, tag or "latest"


def recipes() -> list[str]:
    """Names of the images the workbook can build without a registry."""
    return sorted(p.name for p in RECIPES_DIR.iterdir() if (p / "Dockerfile").exists() or p.name == "debian")


def _local(ref: str):
    import docker.errors

    try:
        return engine.client().images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _pull(repo: str, tag: str):
    import docker.errors

    try:
        return engine.client().images.pull(repo, tag=tag)
    except docker.errors.APIError:
        return None  # no registry, or no such image there


def ensure_image(name: str, *, pull: bool = True, quiet: bool = False):
    """A :class:`docker.models.images.Image` for ``name``: local, else pulled, else built here."""
    repo, tag = split_ref(name)
    ref = f"{repo}:{tag}"
    image = _local(ref)
    if image is not None:
        return image
    if pull:
        image = _pull(repo, tag)
        if image is not None:
            if not quiet:
                print(f"Pulled {ref} from the registry.")
            return image
    short = repo.rsplit("/", 1)[-1]
    if short not in recipes():
        raise WorkbookError(
            f"The image {ref} is not on this machine, no registry could provide it, and the workbook "
            f"has no recipe to build it (it can build: {', '.join(recipes())}).")
    if short != "debian":
        for parent in _parents(RECIPES_DIR / short):  # outside the lock: they may need building too
            if parent.lower() != "scratch":
                ensure_image(parent, quiet=quiet)
    with _build_lock():
        image = _local(ref)  # another kernel may have built it while we waited
        if image is None:
            started = time.monotonic()
            if not quiet:
                print(f"No registry answered: building {ref} locally (once; a few minutes at most)...")
            image = _build_debian(repo, tag) if short == "debian" else _build_recipe(short, repo, tag)
            if not quiet:
                print(f"Built {ref} in {time.monotonic() - started:.0f} s.")
    return image


class _build_lock:
    """Serialise builds across kernels: two debootstraps at once help no one."""

    def __enter__(self):
        self._fh = open(session.state_dir() / "image-build.lock", "w")
        fcntl.flock(self._fh, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        self._fh.close()


# --- the Debian base, from debootstrap ------------------------------------------

def apt_mirror() -> tuple[str, str]:
    """(mirror URL, suite) of the host's main Debian/Ubuntu archive, read from apt's sources."""
    codename = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                codename = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    candidates: list[tuple[str, list[str]]] = []
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) if Path("/etc/apt/sources.list.d").is_dir() else []
    for path in sources:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                for uri in fields.get("URIs", "").split():
                    candidates.append((uri, fields.get("Suites", "").split()))
    lists = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*.list"))
    for path in lists:
        if path.is_file():
            for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", path.read_text(), re.M):
                candidates.append((m.group(1), [m.group(2)]))
    for uri, suites in candidates:
        if codename in suites and "security" not in uri:
            return uri, codename
    if candidates:
        return candidates[0][0], (candidates[0][1] or [codename])[0]
    raise WorkbookError("No apt package mirror is configured on this machine, so the debian base "
                        "image cannot be built: connect to an image registry or configure apt.")


def _build_debian(repo: str, tag: str):
    if os.geteuid() != 0:
        raise WorkbookError("Building the debian base image needs root (debootstrap): run the README's "
                            "set-up command as root once, or use a machine that reaches an image registry.")
    if not shutil.which("debootstrap"):
        raise WorkbookError("debootstrap is not installed, so the debian base image cannot be built: "
                            "run the README's set-up command.")
    mirror, suite = apt_mirror()
    with tempfile.TemporaryDirectory(dir=session.state_dir(), prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        result = subprocess.run(["debootstrap", "--variant=minbase", suite, str(root), mirror],
                                capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-1:]
            raise WorkbookError(f"debootstrap could not build the Debian root file system: {' '.join(tail)}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/cache/apt"):
            for item in (root / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        tar_path = Path(tmp) / "rootfs.tar"
        with tarfile.open(tar_path, "w") as tar:
            for item in sorted(root.iterdir()):
                tar.add(item, arcname=item.name)
        changes = ['CMD ["bash"]'] + [f'LABEL {k}="{v}"' for k, v in BASE_LABELS.items()]
        cli = engine.client()
        cli.api.import_image(src=str(tar_path), repository=repo, tag=tag, changes=changes)
    image = cli.images.get(f"{repo}:{tag}")
    if (repo, tag) != ("debian", "latest"):
        image.tag("debian", "latest")
    return image


# --- every other image, from data/images/<name>/Dockerfile ------------------------

def _parents(recipe: Path) -> list[str]:
    return re.findall(r"^\s*FROM\s+(\S+)", (recipe / "Dockerfile").read_text(), re.M | re.I)


def _build_recipe(short: str, repo: str, tag: str):
    import docker.errors

    recipe = RECIPES_DIR / short
    try:
        image, _ = engine.client().images.build(
            path=str(recipe), tag=f"{repo}:{tag}", labels=BASE_LABELS, network_mode="host", rm=True,
            forcerm=True, pull=False)
    except docker.errors.BuildError as exc:
        lines = [str(step.get("stream", "")).strip() for step in exc.build_log if step.get("stream")]
        raise WorkbookError(f"Building the {short} image failed: {(lines or [str(exc)])[-1]}") from None
    if tag != "latest":
        image.tag(repo, "latest")
    return image


def _main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "ensure":
        print("usage: python -m helpers.containers.base_images ensure NAME [NAME ...]", file=sys.stderr)
        return 2
    for name in argv[1:]:
        try:
            image = ensure_image(name)
        except WorkbookError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {image.tags[0] if image.tags else image.short_id} "
              f"({image.attrs.get('Size', 0) / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
