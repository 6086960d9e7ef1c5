"""Docker storage (§2.12.3): the container layer, volumes, bind mounts, backups.

Notebook 11 makes its volumes, mounts, backups and prunes with the Docker SDK
in its own cells (``client.volumes.create(...)``, ``client.containers.run(...,
volumes={...})``), beside the ``docker`` commands.  This module keeps what a
cell cannot show in a few lines, labelling what it creates with the session
(:func:`helpers.core.session.labels`) so that ``helpers.cleanup()`` removes it
and nothing else:

* :func:`show_volumes` / :func:`list_volumes`: this session's volumes with the
  containers that use them, as a table.
* :func:`wait_database` waits, with a timeout, until MariaDB answers in its
  container; :func:`start_database` is the notebook's
  ``client.containers.run("mariadb", ..., volumes={...})`` plus that wait.
* :func:`measure_write_throughput` writes the same data to the container
  layer, a volume and a bind mount and reports MB/s; :func:`plot_throughput`.
* :func:`ordinary_user` / :func:`user_folder` for the ``--user`` lesson, and
  the session's host folders (:func:`workdir`).
* :func:`create_volume` (create, or reuse this session's), used by the database,
  the measurement and the exercise checker.  A helper's throw-away container
  goes through :func:`helpers.containers.engine.run`.

Names: every container and volume is called ``wb-<session>-<base>``
(:func:`helpers.core.session.resource_name`), because container and volume names
are engine-wide: two notebooks (or two students) on one machine would
otherwise both ask for ``db`` or ``vol1``.  Helpers with a default name
(:func:`start_database`) build it that way; cells pass
``resource_name("vol1")``.  Listings show this session's objects only.

Host folders used for bind mounts and backup files live in
``.workbook/<session>/`` of the workbook folder (ignored by git); they are
removed by :func:`remove_workdir` and by ``helpers.cleanup()``.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from helpers.containers import engine
from helpers.core import session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import AlreadyInUse, WorkbookError, as_workbook_error, wait_for

REPO = Path(__file__).resolve().parents[2]  # the repository (helpers/containers/ is two levels down)


# --- host folders ------------------------------------------------------------------

def workdir(*parts: str, sid: str | None = None) -> Path:
    """A host folder owned by this session: ``.workbook/<session>/<parts>`` (created)."""
    path = REPO / ".workbook" / (sid or session.SESSION_ID)
    for part in parts:
        path = path / part
    path.mkdir(parents=True, exist_ok=True)
    return path


def _throwaway_name(base: str) -> str:
    """A fresh ``wb-<session>-<base>-<6 hex>`` for a container removed as soon as it has run."""
    return session.resource_name(f"{base}-{uuid.uuid4().hex[:6]}")


def _rmtree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except PermissionError:
        # Files written as root by a container into a bind mount: let a
        # container (root inside) delete them.
        engine.run("debian", ["rm", "-rf", "/target/" + path.name], remove=True, quiet=True,
                          name=_throwaway_name("rmtree"),
                          volumes={str(path.parent): {"bind": "/target", "mode": "rw"}})
        shutil.rmtree(path, ignore_errors=True)
    except FileNotFoundError:
        pass


def remove_workdir(sid: str | None = None) -> list[str]:
    """Delete the session's host folder (bind mounts, backup files)."""
    path = REPO / ".workbook" / (sid or session.SESSION_ID)
    if not path.exists():
        return []
    _rmtree(path)
    return [f"folder {path.relative_to(REPO)}"]


def _dir_owners() -> set[str]:
    base = REPO / ".workbook"
    return {p.name for p in base.iterdir() if re.fullmatch(r"[0-9a-f]{8}", p.name)} if base.is_dir() else set()


def _dir_leftovers(sid: str) -> list[str]:
    path = REPO / ".workbook" / sid
    return [f"folder {path.relative_to(REPO)}"] if path.exists() else []


#: Clean-up of the session's host folders (listed in helpers.cleanup.CLEANER_MODULES).
CLEANER = Cleaner("storage-folders", _dir_owners, _dir_leftovers, remove_workdir)


# --- volumes -------------------------------------------------------------------

def create_volume(name: str, *, driver: str = "local", driver_opts: dict | None = None):
    """``docker volume create [--driver D] [-o k=v] NAME``, labelled; reuses this session's volume."""
    import docker.errors

    cli = engine.client()
    try:
        existing = cli.volumes.get(name)
    except docker.errors.NotFound:
        existing = None
    if existing is not None:
        if not engine.owned(existing):
            raise AlreadyInUse(f"A volume named {name!r} already exists and was not created by this notebook: "
                               f"pick another name, so that clean-up never deletes someone else's data.")
        return existing
    try:
        return cli.volumes.create(name=name, driver=driver, driver_opts=driver_opts or {},
                                  labels=session.labels())
    except docker.errors.APIError as exc:
        raise as_workbook_error(exc) from None


def list_volumes() -> list[dict]:
    """``docker volume ls --filter label=<this session>`` as rows (name, driver, mountpoint, used by).

    Only this session's volumes, and only this session's containers in
    "used by": other notebooks' objects are theirs to show.
    """
    cli = engine.client()
    flt = engine.session_filter()
    users: dict[str, list[str]] = {}
    # Summary calls only, never one inspect per object: an object that
    # another call removes between a list and an inspect would be an error.
    for c in cli.api.containers(all=True, filters=flt):
        for m in c.get("Mounts") or []:
            if m.get("Type") == "volume":
                users.setdefault(m.get("Name"), []).append((c.get("Names") or ["/" + c["Id"][:12]])[0].lstrip("/"))
    rows = []
    for v in (cli.api.volumes(filters=flt) or {}).get("Volumes") or []:
        name = v["Name"]
        mountpoint = v.get("Mountpoint") or ""
        if _is_anonymous(name):  # shorten its 64-hex-digit id, also inside the path, to fit a line
            mountpoint = mountpoint.replace(name, name[:12] + "…")
        rows.append({"name": short_volume_name(name), "driver": v.get("Driver"), "mountpoint": mountpoint,
                     "used by": ", ".join(users.get(name, [])) or "-"})
    return sorted(rows, key=lambda r: r["name"])


def _is_anonymous(name: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{64}", name))


def short_volume_name(name: str) -> str:
    """A volume's name as a line can show it: an anonymous volume's 64-hex-digit id cut to 12, like the CLI's ids."""
    return f"{name[:12]}… (anonymous)" if _is_anonymous(name) else name


def show_volumes() -> None:
    """Print this session's volumes as a table: name, driver, mountpoint and the containers that use them."""
    show_table(list_volumes(), empty="(no volume)")


def show_table(rows: list[dict], empty: str = "(nothing)") -> None:
    """Print rows of dicts as an aligned text table (readable in any output)."""
    if not rows:
        print(empty)
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r.get(k, ""))) for r in rows)) for k in keys}
    print("  ".join(k.upper().ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(str(r.get(k, "")).ljust(widths[k]) for k in keys))


# --- the --user lesson -------------------------------------------------------------

#: The uid:gid the ``--user`` lesson runs a container as when the kernel is root: the first
#: ordinary user on most Linux systems, so that the effect of ``--user`` is visible.
ORDINARY_USER = (1000, 1000)


def ordinary_user() -> tuple[int, int]:
    """(uid, gid) for the ``--user`` lesson: this kernel's own, or :data:`ORDINARY_USER` when it runs as root."""
    if os.getuid() == 0:
        return ORDINARY_USER
    return os.getuid(), os.getgid()


def user_folder(name: str, uid: int, gid: int) -> Path:
    """A session folder (``workdir(name)``) that the user ``uid:gid`` owns, as a home folder would be.

    Only root can give a folder away; an ordinary user's kernel owns it already.
    """
    path = workdir(name)
    if os.getuid() == 0 and (path.stat().st_uid, path.stat().st_gid) != (uid, gid):
        os.chown(path, uid, gid)
    return path


# --- a database whose data live in a volume ------------------------------------

DB_PASSWORD = "workbook"


def start_database(name: str | None = None, volume: str | None = None, *, database: str = "shop",
                   timeout: float = 90):
    """Run MariaDB with its data folder (/var/lib/mysql) in ``volume`` and wait until it answers.

    ``name`` and ``volume`` default to ``wb-<session>-db`` and ``wb-<session>-dbdata``.
    Re-running reuses this session's running container of that name.
    """
    import docker.errors

    name = name or session.resource_name("db")
    volume = volume or session.resource_name("dbdata")
    cli = engine.client()
    create_volume(volume)
    try:
        container = cli.containers.get(name)
        if not engine.owned(container):
            raise AlreadyInUse(f"A container named {name!r} exists and was not created by this notebook: "
                               f"choose another name.")
        if container.status != "running":
            container.remove(force=True, v=True)
            container = None
    except docker.errors.NotFound:
        container = None
    if container is None:
        container = engine.run(
            "mariadb", detach=True, name=name, quiet=True,
            environment={"MARIADB_ROOT_PASSWORD": DB_PASSWORD, "MARIADB_DATABASE": database},
            volumes={volume: {"bind": "/var/lib/mysql", "mode": "rw"}})
    wait_database(container, timeout=timeout)
    return container


def wait_database(container, *, timeout: float = 90) -> float:
    """Wait until MariaDB in ``container`` answers a ping; returns the seconds waited."""
    started = time.monotonic()

    def ready():
        container.reload()
        if container.status != "running":
            tail = container.logs(tail=3).decode(errors="replace").strip().splitlines()
            raise WorkbookError(f"The database container stopped while starting: {(tail or ['no log'])[-1]}")
        return container.exec_run(["mariadb-admin", "ping", "--silent"]).exit_code == 0

    wait_for(ready, timeout=timeout, what=f"MariaDB in {container.name} to accept connections", interval=0.3)
    return time.monotonic() - started


# --- write throughput -----------------------------------------------------------

@dataclass
class Throughput:
    """Write speeds measured in one container, per target (``layer``, ``volume``, ``bind mount``)."""

    mb: int
    repeats: int
    big_file: dict[str, list[float]] = field(default_factory=dict)     # MB/s per repetition
    small_files: dict[str, list[float]] = field(default_factory=dict)  # files/s per repetition
    seconds: float = 0.0

    def median(self, target: str) -> float:
        return statistics.median(self.big_file[target])

    def rows(self) -> list[dict]:
        return [{"target": t, "big file MB/s (median)": f"{statistics.median(v):.0f}",
                 "min-max": f"{min(v):.0f}-{max(v):.0f}",
                 "small files/s (median)": f"{statistics.median(self.small_files[t]):.0f}"}
                for t, v in self.big_file.items()]

    def findings(self) -> list[str]:
        """What this run's numbers say, one sentence per workload, computed from them (not from an earlier run)."""
        out = []
        for what, data, unit in ((f"One {self.mb} MiB file", self.big_file, "MB/s"),
                                 ("Many small files", self.small_files, "files/s")):
            med = {t: statistics.median(v) for t, v in data.items()}
            fast, slow = max(med, key=med.get), min(med, key=med.get)
            # Two targets differ beyond the noise when their min-max ranges do not overlap.
            apart = [(a, b) for a in data for b in data
                     if a < b and (min(data[a]) > max(data[b]) or min(data[b]) > max(data[a]))]
            ratio = med[fast] / med[slow] if med[slow] else float("inf")
            if not apart:
                out.append(f"{what}: the medians lie within {100 * (ratio - 1):.0f}% of each other and every "
                           f"range overlaps the others: no difference beyond this machine's run-to-run noise.")
            else:
                pairs = ", ".join(f"{a} / {b}" for a, b in apart)
                out.append(f"{what}: the {fast} was {ratio:.1f}x as fast as the {slow} (median "
                           f"{med[fast]:.0f} vs {med[slow]:.0f} {unit}); ranges that do not overlap: {pairs}.")
        top = max(statistics.median(v) for v in self.big_file.values())
        if top > 1000:
            out.append(f"Over 1000 MB/s with fsync ({top:.0f} MB/s here) is more than most disks can store: either a "
                       f"very fast disk, or one (often a virtual machine's disk) that confirms fsync as soon as its "
                       f"write cache holds the data.")
        return out


_BENCH = r"""
set -e
mkdir -p /layer
for r in $(seq 1 {repeats}); do
  for t in layer:/layer volume:/vol bind:/bind; do
    name=${{t%%:*}}; dir=${{t#*:}}
    s=$EPOCHREALTIME
    dd if=/dev/zero of=$dir/big bs=1M count={mb} conv=fsync status=none
    e=$EPOCHREALTIME
    echo "big $name $s $e"
    rm -f $dir/big
    mkdir -p $dir/many
    s=$EPOCHREALTIME
    for i in $(seq 1 {files}); do echo "$i" > $dir/many/$i; done
    sync -f $dir/many
    e=$EPOCHREALTIME
    echo "small $name $s $e"
    rm -rf $dir/many
  done
done
"""

TARGET_NAMES = {"layer": "container layer", "volume": "volume", "bind": "bind mount"}


def measure_write_throughput(*, mb: int = 128, repeats: int = 5, files: int = 500) -> Throughput:
    """Write ``mb`` MiB with fsync (and ``files`` small files) to each target, ``repeats`` times.

    One ``debian`` container writes to its own layer (``/layer``), to a
    session volume (``/vol``) and to a host folder (``/bind``), in turns so
    that all three see the same disk conditions; bash's ``$EPOCHREALTIME``
    times each write inside the container.
    """
    volume = create_volume(session.resource_name("bench"))
    bind = workdir("bench")
    started = time.monotonic()
    out = engine.run("debian", ["bash", "-c", _BENCH.format(mb=mb, repeats=repeats, files=files)], remove=True,
                     stderr=True, quiet=True, name=_throwaway_name("bench"), timeout=600,
                     volumes={volume.name: {"bind": "/vol", "mode": "rw"},
                              str(bind): {"bind": "/bind", "mode": "rw"}}).decode(errors="replace")
    result = Throughput(mb=mb, repeats=repeats, seconds=time.monotonic() - started)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        kind, name, s, e = parts
        elapsed = max(float(e) - float(s), 1e-6)
        label = TARGET_NAMES[name]
        if kind == "big":
            result.big_file.setdefault(label, []).append(mb * 1.048576 / elapsed)  # MB (10^6 bytes)/s
        else:
            result.small_files.setdefault(label, []).append(files / elapsed)
    volume.remove(force=True)
    _rmtree(bind)
    if len(result.big_file) != 3:
        raise WorkbookError(f"The measurement produced no numbers; the container said: {out.strip()[-200:]}")
    return result


def plot_throughput(result: Throughput):
    """Two bar charts: big-file MB/s and small files/s per target, with min-max whiskers."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = ["#8c6bb1", "#2b8cbe", "#41ab5d"]
    for ax, data, unit, title in (
            (axes[0], result.big_file, "MB/s", f"Writing one {result.mb} MiB file (fsync)"),
            (axes[1], result.small_files, "files/s", "Creating many small files")):
        names = list(data)
        med = [statistics.median(data[n]) for n in names]
        low = [m - min(data[n]) for m, n in zip(med, names)]
        high = [max(data[n]) - m for m, n in zip(med, names)]
        bars = ax.bar(names, med, yerr=[low, high], capsize=6, color=colours)
        for bar, m in zip(bars, med):
            ax.annotate(f"{m:.0f}", (bar.get_x() + bar.get_width() / 2, m), ha="center", va="bottom",
                        xytext=(12, 2), textcoords="offset points", fontsize=9)
        ax.set_title(title)
        ax.set_ylabel(f"write speed ({unit}, median of {result.repeats})")
        ax.set_xlabel("where the container writes")
    fig.suptitle("Write throughput measured on this machine (whiskers: min to max)")
    fig.tight_layout()
    return fig
