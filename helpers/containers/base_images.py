"""Images by the names the chapter uses, with or without a registry.

:func:`ensure_image` returns a usable image for a name such as ``debian``,
``python`` or ``nginx``: the local one if present, else a pull from the
registry, else a local build from a recipe in ``data/images/<name>/``.

* ``debian`` is built from a ``debootstrap --variant=minbase`` root file
  system, fetched from the package mirror this machine's apt already uses
  (read at run time), and turned into an image with ``docker import``.
  :func:`build_debian` also builds it for another architecture (``arm64``,
  for the portable image of Apple Silicon): debootstrap ``--arch`` runs the
  foreign programs through QEMU's user-mode emulator (binfmt_misc), and the
  image's configuration is given the architecture its files have.
* Every other recipe is an ordinary Dockerfile (``FROM debian`` + packages),
  built with the host's network so that ``apt-get`` reaches the same mirror.

Locally built images carry the base-image label: they are a cache that
clean-up keeps, not a session's resource.  Command line::

    python -m helpers.containers.base_images ensure debian python
    python -m helpers.containers.base_images ensure debian --arch arm64   # cloud-workbook-base:arm64
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import platform
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
#: The Debian base of another architecture is ``cloud-workbook-base:<arch>``, never ``debian:latest``
#: (the notebooks run that one on this machine's engine).
FOREIGN_BASE = "cloud-workbook-base"
#: Debian's architecture names -> the kernel's (what binfmt_misc registers QEMU under).
QEMU_NAMES = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "arm", "ppc64el": "ppc64le",
              "s390x": "s390x", "riscv64": "riscv64"}


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


def ensure_image(name: str, *, pull: bool = True, quiet: bool = False, arch: str | None = None):
    """A :class:`docker.models.images.Image` for ``name``: local, else pulled, else built here.

    ``arch`` other than this machine's: only ``debian`` (as ``cloud-workbook-base:<arch>``), built
    here under emulation, never pulled."""
    if arch and arch != host_arch():
        if split_ref(name)[0] != "debian":
            raise WorkbookError(f"Only the debian base can be built here for {arch}; the other images "
                                f"are built by an {arch} engine from their recipes at first use.")
        ref = f"{FOREIGN_BASE}:{arch}"
        with _build_lock():
            return _local(ref) or build_debian(arch, ref, quiet=quiet)
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
            image = build_debian(ref=ref) if short == "debian" else _build_recipe(short, repo, tag)
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


def host_arch() -> str:
    """This machine's architecture by Debian's name (``amd64``, ``arm64``...)."""
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        machine = platform.machine()
        return {v: k for k, v in QEMU_NAMES.items()}.get(machine, machine)


def debootstrap_argv(suite: str, root: str | os.PathLike, mirror: str, arch: str | None = None) -> list[str]:
    """The debootstrap command: ``--arch`` only for another architecture than this machine's."""
    foreign = ["--arch", arch] if arch and arch != host_arch() else []
    return ["debootstrap", *foreign, "--variant=minbase", suite, str(root), mirror]


def build_debian(arch: str | None = None, ref: str | None = None, *, quiet: bool = True):
    """Build the Debian base image for ``arch`` (default: this machine's) and return it.

    ``ref`` defaults to ``debian:latest`` (also tagged so) for this machine's architecture and to
    ``cloud-workbook-base:<arch>`` for another one, whose programs debootstrap runs under QEMU."""
    arch = arch or host_arch()
    foreign = arch != host_arch()
    repo, tag = split_ref(ref or (f"{FOREIGN_BASE}:{arch}" if foreign else "debian:latest"))
    if os.geteuid() != 0:
        raise WorkbookError("Building the debian base image needs root (debootstrap): run the README's "
                            "set-up command as root once, or use a machine that reaches an image registry.")
    if not shutil.which("debootstrap"):
        raise WorkbookError("debootstrap is not installed, so the debian base image cannot be built: "
                            "run the README's set-up command.")
    if foreign and not Path(f"/proc/sys/fs/binfmt_misc/qemu-{QEMU_NAMES.get(arch, arch)}").exists():
        raise WorkbookError(f"This machine cannot run {arch} programs (no qemu-{QEMU_NAMES.get(arch, arch)} "
                            "in binfmt_misc): install qemu-user-static and binfmt-support first.")
    mirror, suite = apt_mirror()
    if not quiet:
        print(f"debootstrap {'--arch ' + arch + ' ' if foreign else ''}{suite} from the host's mirror"
              f"{' (under emulation: about 5 minutes)' if foreign else ''}...", flush=True)
    with tempfile.TemporaryDirectory(dir=session.state_dir(), prefix="rootfs-") as tmp:
        root = Path(tmp) / "root"
        result = subprocess.run(debootstrap_argv(suite, root, mirror, arch), capture_output=True, text=True)
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
    if foreign:  # docker import records the engine's own architecture
        set_architecture(f"{repo}:{tag}", arch)
    image = cli.images.get(f"{repo}:{tag}")
    if not foreign and (repo, tag) != ("debian", "latest"):
        image.tag("debian", "latest")
    return image


# --- an image's architecture, rewritten in its configuration ----------------------

def rewrite_architecture(saved: str | os.PathLike, fixed: str | os.PathLike, arch: str,
                         variant: str | None = None) -> None:
    """Copy the ``docker save`` archive ``saved`` to ``fixed`` with ``architecture`` (and ``variant``)
    set in every image configuration. The layers are untouched; the configurations are renamed by
    their new digest (the image id), and ``repositories`` is dropped (``manifest.json`` has the tags)."""
    with tarfile.open(saved) as src, tarfile.open(fixed, "w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))
        renamed = {}
        for entry in manifest:
            config = json.load(src.extractfile(entry["Config"]))
            config["architecture"] = arch
            config.pop("variant", None)
            if variant:
                config["variant"] = variant
            data = json.dumps(config, separators=(",", ":")).encode()
            name = hashlib.sha256(data).hexdigest() + ".json"
            renamed[entry["Config"]] = (name, data)
            entry["Config"] = name
        for member in src.getmembers():
            if member.name in renamed or member.name in ("manifest.json", "repositories"):
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        extras = {"manifest.json": json.dumps(manifest).encode()}
        extras.update({name: data for name, data in renamed.values()})
        for name, data in extras.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def set_architecture(ref: str, arch: str, variant: str | None = None) -> str:
    """Give the local image ``ref`` the architecture its files have (``docker import`` and the classic
    builder record the engine's own when the daemon is not in experimental mode): saved, rewritten,
    loaded back under the same tags. Returns the architecture the engine now reports."""
    def current() -> str:
        return subprocess.run(["docker", "image", "inspect", ref, "--format", "{{.Architecture}}"],
                              check=True, capture_output=True, text=True).stdout.strip()

    if current() == arch and not variant:
        return arch
    with tempfile.TemporaryDirectory(prefix="image-arch-") as tmp:
        saved, fixed = Path(tmp) / "saved.tar", Path(tmp) / "fixed.tar"
        subprocess.run(["docker", "save", "-o", str(saved), ref], check=True)
        rewrite_architecture(saved, fixed, arch, variant)
        saved.unlink()
        subprocess.run(["docker", "load", "-q", "-i", str(fixed)], check=True, stdout=subprocess.DEVNULL)
    return current()


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
    arch = None
    if "--arch" in argv:
        i = argv.index("--arch")
        arch, argv = (argv[i + 1] if i + 1 < len(argv) else ""), argv[:i] + argv[i + 2:]
    if len(argv) < 2 or argv[0] != "ensure" or arch == "":
        print("usage: python -m helpers.containers.base_images ensure NAME [NAME ...] [--arch ARCH]",
              file=sys.stderr)
        return 2
    for name in argv[1:]:
        try:
            image = ensure_image(name, arch=arch, quiet=False)
        except WorkbookError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: {image.tags[0] if image.tags else image.short_id} "
              f"({image.attrs.get('Size', 0) / 1e6:.0f} MB, {image.attrs.get('Architecture', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
