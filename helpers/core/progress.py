"""A student's progress: every exercise check's verdict, recorded in the student's work folder.

When a check's :class:`~helpers.core.verdict.Verdict` is shown in a notebook, one line is
appended to ``progress.jsonl`` in the work folder (notebook, exercise, passed or not, time)::

    import helpers
    helpers.progress()          # a table of every exercise of the workbook and its state

The work folder is ``$WORKBOOK_WORK`` when set; in the portable image ``/workbook/work`` (the
student's work volume, which the classroom's instructor reads); on a host ``.workbook/work/`` of
the workbook folder (ignored by git). The exercises are the workbook's ``check`` cells (each
follows its ``solution`` cell); a recorded verdict belongs to the exercise whose check function
made it. For an instructor, many students' folders (one each) make one table and one plot::

    python -m helpers.core.progress class FOLDER_OF_FOLDERS [--png class.png]
    python -m helpers.core.progress class --volumes PREFIX    # the classroom's work volumes
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILE = "progress.jsonl"
STATES = ("passed", "not yet", "not attempted", "not run")
_MARK = {"passed": "✔", "not yet": "✘", "not attempted": "•", "not run": "·"}
_CHECK_CALL = re.compile(r"\b(check_\w+)\s*\(")


@dataclass(frozen=True)
class Exercise:
    notebook: str   # the notebook's stem: 09-containers-and-docker
    check: str      # the check function's name: check_greeter
    title: str      # the heading above it

    @property
    def key(self) -> str:
        return f"{self.notebook[:2]}:{self.check}"


def work_folder() -> Path:
    """Where this student's work and progress live (see the module's text)."""
    if os.environ.get("WORKBOOK_WORK"):
        return Path(os.environ["WORKBOOK_WORK"])
    if os.environ.get("WORKBOOK_IMAGE") == "1" and Path("/workbook/work").is_dir():
        return Path("/workbook/work")
    return ROOT / ".workbook" / "work"


def record(verdict, notebook: str | None = None) -> None:
    """Append the verdict to the work folder's progress file (never fails the check)."""
    from helpers.core import session

    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "notebook": notebook or session.NOTEBOOK,
             "check": getattr(verdict, "check", None), "title": verdict.title,
             "passed": bool(verdict.passed), "attempted": bool(verdict.attempted),
             "user": os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER", "")}
    try:
        folder = work_folder()
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / FILE, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
    except OSError:
        pass  # a read-only folder: the check's verdict is still shown


def exercises(notebooks: Path | None = None) -> list[Exercise]:
    """Every exercise of the workbook: its check cells, in notebook order."""
    found = []
    for path in sorted((notebooks or ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        heading = exercise_heading = ""
        for cell in json.loads(path.read_text()).get("cells", []):
            source = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "markdown":
                for line in source.splitlines():
                    if line.startswith("#"):
                        heading = line.lstrip("# ").strip()
                        if "exercise" in heading.lower():
                            exercise_heading = heading
            elif "check" in cell.get("metadata", {}).get("tags", []):
                for name in dict.fromkeys(_CHECK_CALL.findall(source)):
                    found.append(Exercise(path.stem, name, exercise_heading or heading))
    return found


def load(folder: Path) -> list[dict]:
    """The recorded verdicts of one work folder (its progress.jsonl), oldest first."""
    path = Path(folder) / FILE
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a full disk or a killed kernel
    return entries


def states(entries: list[dict], catalogue: list[Exercise]) -> dict[str, dict]:
    """Per exercise key: state (the latest verdict's), attempts, last time, best ever."""
    by_check: dict[str, list[Exercise]] = {}
    for ex in catalogue:
        by_check.setdefault(ex.check, []).append(ex)
    result = {ex.key: {"state": "not run", "attempts": 0, "time": "", "ever_passed": False} for ex in catalogue}
    for entry in entries:
        candidates = by_check.get(entry.get("check") or "", [])
        if len(candidates) > 1:
            candidates = [ex for ex in candidates if ex.notebook[:2] == str(entry.get("notebook", ""))[:2]]
        if len(candidates) != 1:
            continue  # a verdict of no exercise (a demo check, a helper's own test)
        row = result[candidates[0].key]
        row["state"] = "passed" if entry.get("passed") else ("not yet" if entry.get("attempted", True) else "not attempted")
        row["attempts"] += 1
        row["time"] = entry.get("time", "")
        row["ever_passed"] |= bool(entry.get("passed"))
    return result


class Table:
    """A student's exercises and their states: text with print(), HTML in JupyterLab."""

    def __init__(self, catalogue: list[Exercise], rows: dict[str, dict], folder: Path):
        self.catalogue, self.rows, self.folder = catalogue, rows, folder

    @property
    def passed(self) -> int:
        return sum(r["state"] == "passed" for r in self.rows.values())

    def __str__(self) -> str:
        lines = [f"Progress ({self.folder / FILE}): {self.passed} of {len(self.catalogue)} exercises pass"]
        for ex in self.catalogue:
            r = self.rows[ex.key]
            when = f"  ({r['attempts']} run(s), last {r['time']})" if r["attempts"] else ""
            lines.append(f"  {_MARK[r['state']]} {ex.notebook:<28} {ex.title[:52]:<52} {r['state']}{when}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"passed": "#2e7d32", "not yet": "#c62828", "not attempted": "#555", "not run": "#999"}
        body = "".join(
            f"<tr><td>{html.escape(ex.notebook)}</td><td>{html.escape(ex.title)}</td>"
            f"<td style='color:{colour[self.rows[ex.key]['state']]}'>{_MARK[self.rows[ex.key]['state']]} "
            f"{self.rows[ex.key]['state']}</td><td>{self.rows[ex.key]['attempts']}</td>"
            f"<td>{html.escape(self.rows[ex.key]['time'])}</td></tr>" for ex in self.catalogue)
        return (f"<p><b>{self.passed} of {len(self.catalogue)} exercises pass</b> "
                f"<small>({html.escape(str(self.folder / FILE))})</small></p><table><tr><th>notebook</th>"
                f"<th>exercise</th><th>state</th><th>runs</th><th>last run</th></tr>{body}</table>")


def progress(folder: Path | str | None = None) -> Table:
    """The table of every exercise of the workbook with this student's state."""
    folder = Path(folder) if folder else work_folder()
    catalogue = exercises()
    return Table(catalogue, states(load(folder), catalogue), folder)


# --- The instructor's view: many students ----------------------------------------------------------

def class_folders(parent: Path) -> dict[str, Path]:
    """One folder per student under ``parent`` (the folder's name is the student's)."""
    return {p.name: p for p in sorted(Path(parent).iterdir()) if p.is_dir()}


def volume_folders(prefix: str) -> dict[str, Path]:
    """The classroom's work volumes ``<prefix>-<student>-work`` and their folders on this host."""
    names = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"name={prefix}-"],
                           capture_output=True, text=True, timeout=30).stdout.split()
    found = {}
    for name in names:
        if name.startswith(prefix + "-") and name.endswith("-work"):
            mount = subprocess.run(["docker", "volume", "inspect", "-f", "{{.Mountpoint}}", name],
                                   capture_output=True, text=True, timeout=30).stdout.strip()
            found[name[len(prefix) + 1:-len("-work")]] = Path(mount)
    return found


def class_table(folders: dict[str, Path], catalogue: list[Exercise] | None = None) -> dict[str, dict[str, dict]]:
    """student -> exercise key -> state row."""
    catalogue = catalogue or exercises()
    return {student: states(load(folder), catalogue) for student, folder in folders.items()}


def class_text(table: dict[str, dict[str, dict]], catalogue: list[Exercise]) -> str:
    keys = [ex.key for ex in catalogue]
    width = max([7] + [len(s) for s in table])
    lines = [f"{'student':<{width}}  " + " ".join(k[:2] for k in keys) + "  passed",
             f"{'':<{width}}  " + " ".join("--" for _ in keys)]
    for student, rows in table.items():
        marks = " ".join(f"{_MARK[rows[k]['state']]} " for k in keys)
        lines.append(f"{student:<{width}}  {marks} {sum(r['state'] == 'passed' for r in rows.values())}/{len(keys)}")
    lines.append("")
    lines += [f"  {ex.key:<30} {ex.title}" for ex in catalogue]
    lines.append("  ✔ passed  ✘ not yet  • not attempted  · not run")
    return "\n".join(lines)


def class_plot(table: dict[str, dict[str, dict]], catalogue: list[Exercise], png: Path) -> Path:
    """A students × exercises grid of states, and how many students pass each exercise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    keys = [ex.key for ex in catalogue]
    students = list(table)
    grid = [[STATES.index(table[s][k]["state"]) for k in keys] for s in students]
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(max(6, len(keys) * 0.55), 2 + 0.35 * max(len(students), 1) + 2.5),
                                   gridspec_kw={"height_ratios": [max(len(students), 1), 4]})
    cmap = ListedColormap(["#2e7d32", "#c62828", "#9e9e9e", "#eeeeee"])
    ax.imshow(grid or [[3] * len(keys)], cmap=cmap, vmin=0, vmax=3, aspect="auto")
    ax.set_yticks(range(len(students)), students)
    ax.set_xticks(range(len(keys)), [k.replace(":check_", "\n") for k in keys], fontsize=6)
    ax.set_title("Exercises per student (green passed, red not yet, grey not attempted, white not run)", fontsize=8)
    counts = [sum(table[s][k]["state"] == "passed" for s in students) for k in keys]
    bars.bar(range(len(keys)), counts, color="#2e7d32")
    bars.set_xticks(range(len(keys)), [k[:2] for k in keys])
    bars.set_ylabel("students passing")
    bars.set_ylim(0, max(len(students), 1))
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.core.progress",
                                     description="Exercise progress: a student's, or a class's.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show", help="this student's table (the work folder)").add_argument("folder", nargs="?")
    cls = sub.add_parser("class", help="many students: one folder each, or the classroom's volumes")
    cls.add_argument("parent", nargs="?", help="a folder with one work folder per student")
    cls.add_argument("--volumes", metavar="PREFIX", help="read the classroom's work volumes PREFIX-<student>-work")
    cls.add_argument("--png", default=str(ROOT / "artifacts" / "class-progress.png"))
    args = parser.parse_args(argv)
    if args.command == "show":
        print(progress(args.folder))
        return 0
    if not args.parent and not args.volumes:
        parser.error("give a folder of students' folders, or --volumes PREFIX")
    folders = volume_folders(args.volumes) if args.volumes else class_folders(Path(args.parent))
    catalogue = exercises()
    table = class_table(folders, catalogue)
    print(class_text(table, catalogue))
    print(f"plot: {class_plot(table, catalogue, Path(args.png))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
