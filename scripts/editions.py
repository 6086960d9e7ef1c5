"""The workbook's editions, all made from the committed notebooks (``notebooks/``).

    python scripts/editions.py student    # build/student/notebooks: starters instead of solutions
    python scripts/editions.py slidemeta  # (re)write the slide metadata of notebooks/*.ipynb
    python scripts/editions.py slides [--only 00,04]  # build/slides: reveal.js of notebooks executed here

Student edition: a cell tagged ``solution`` becomes its ``metadata.workbook.starter`` (what the
exercise test also runs as "the starter", tests/test_exercises.py), followed by a collapsed
markdown cell with its ``metadata.workbook.hint``; a cell tagged ``instructor`` (a heading such as
"One solution") is left out.  (The slides and the website of the executed notebooks, issue 14
items 2 and 3: ``slides`` is there, the website is not yet.)
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"


def notebook_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]-*.ipynb"))


def tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


# --- the student edition -------------------------------------------------------------------------

def hint_cell(hint: str):
    """A markdown cell that shows only "Hint" until the student opens it."""
    cell = nbformat.v4.new_markdown_cell(
        f"<details><summary><b>Hint</b> (click to open)</summary>\n\n{hint}\n\n</details>")
    cell.metadata["tags"] = ["hint"]
    return cell


def student_notebook(nb):
    """A copy of ``nb`` with every solution replaced by its starter (and its hint, collapsed)."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        if "instructor" in tags(cell):
            continue
        if "solution" in tags(cell):
            meta = cell.metadata.pop("workbook", {})
            starter = meta.get("starter")
            if starter is None:
                raise SystemExit(f"cell {cell.get('id')} is tagged solution but has no metadata.workbook.starter")
            cell.source = starter
            cell.outputs, cell.execution_count = [], None
            cell.metadata["tags"] = ["exercise" if t == "solution" else t for t in tags(cell)]
            cells.append(cell)
            if meta.get("hint"):
                hint = hint_cell(meta["hint"])
                hint["id"] = f"{cell.get('id')}-hint"
                cells.append(hint)
            continue
        cells.append(cell)
    out.cells = cells
    return out


def student(out: Path = BUILD / "student") -> list[Path]:
    folder = out / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebook_paths():
        target = folder / path.name
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


# --- slide metadata (RISE in JupyterLab, nbconvert --to slides) ---------------------------------

#: More lines than this on one slide and the next cell starts a sub-slide (below it) instead of a fragment.
SLIDE_LINES = 14


def _plumbing(index: int, cell, last: int) -> bool:
    """The import cell under the title and the clean-up cell at the end: not shown in a lecture."""
    src = cell.source.strip()
    return cell.cell_type == "code" and (
        (index == 1 and "import helpers" in src) or (index == last and src.startswith("helpers.cleanup(")))


def slide_types(nb) -> list[str]:
    """Each cell's slide type, from the notebook's structure: the title cell and every ``##`` heading
    start a slide, ``###`` a sub-slide, the cells of a step are fragments (a sub-slide when the slide
    is full), the import and clean-up cells are skipped."""
    types, lines, last = [], 0, len(nb.cells) - 1
    for index, cell in enumerate(nb.cells):
        src = cell.source.lstrip()
        size = len(cell.source.splitlines()) + (4 if cell.cell_type == "code" else 0)  # room for output
        if _plumbing(index, cell, last):
            types.append("skip")
            continue
        heading = cell.cell_type == "markdown" and re.search(r"^#{1,3} ", src, re.M)
        if index == 0 or (heading and heading.group().strip() != "###"):
            kind, lines = "slide", size
        elif heading:
            kind, lines = "subslide", size
        elif lines + size > SLIDE_LINES:
            kind, lines = "subslide", size
        else:
            kind, lines = "fragment", lines + size
        types.append(kind)
    return types


def slidemeta(paths: list[Path] | None = None) -> list[Path]:
    """(Re)write ``metadata.slideshow`` of every cell; the notebooks that changed."""
    changed = []
    for path in paths or notebook_paths():
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        for cell, kind in zip(nb.cells, slide_types(nb)):
            cell.metadata["slideshow"] = {"slide_type": kind}
        nb.metadata["rise"] = {"scroll": True, "enable_chalkboard": False}
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path)
    return changed


# --- executed copies and slides ------------------------------------------------------------------

#: reveal.js and what nbconvert's slides template loads with it, from npm (nbconvert's default is a CDN).
VENDOR = {"reveal.js": "reveal.js@4.6.1", "requirejs": "requirejs@2.3.8", "jquery": "jquery@3.8.0"}


def vendor(folder: Path) -> None:
    """Unpack the npm packages of :data:`VENDOR` into ``folder`` (once), so that the slides work offline."""
    import subprocess
    import tarfile
    import tempfile

    for name, spec in VENDOR.items():
        if (folder / name).is_dir():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", spec, "--silent", "--pack-destination", tmp], check=True,
                           stdout=subprocess.DEVNULL, timeout=300)
            with tarfile.open(next(Path(tmp).glob("*.tgz"))) as tar:
                tar.extractall(tmp, filter="data")
            (folder).mkdir(parents=True, exist_ok=True)
            Path(tmp, "package").rename(folder / name)


def executed(paths: list[Path], out: Path = BUILD / "executed") -> list[Path]:
    """Each notebook run here in a session of its own (tests/notebook_runner.py), its outputs kept in
    ``out``; a copy is reused while the notebook's source is unchanged (its sha256 beside it)."""
    import hashlib

    sys.path.insert(0, str(ROOT / "tests"))
    from notebook_runner import execute, new_session_id, workbook_meta

    out.mkdir(parents=True, exist_ok=True)
    done = []
    for path in paths:
        target, stamp = out / path.name, out / (path.name + ".sha256")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not (target.exists() and stamp.exists() and stamp.read_text() == digest):
            meta = workbook_meta(path)
            env = (meta.get("variants") or [{}])[-1]  # the last variant: the real one (qemu:///system)
            nbformat.write(execute(path, new_session_id(), env, cell_timeout=meta.get("timeout", 600)), target)
            stamp.write_text(digest)
        done.append(target)
    return done


def slides(paths: list[Path], out: Path = BUILD / "slides") -> list[Path]:
    from nbconvert import SlidesExporter

    vendor(out / "vendor")
    exporter = SlidesExporter(reveal_url_prefix="vendor/reveal.js", require_js_url="vendor/requirejs/require.js",
                              jquery_url="vendor/jquery/dist/jquery.min.js", reveal_scroll=True)
    written = []
    for path in executed(paths):
        body, _ = exporter.from_notebook_node(nbformat.read(path, as_version=4))
        target = out / (path.stem + ".slides.html")
        target.write_text(body)
        written.append(target)
    return written


# --- command line -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("edition", choices=["student", "slidemeta", "slides"])
    parser.add_argument("--only", default="", help="comma-separated notebook prefixes (e.g. 00,05)")
    args = parser.parse_args(argv)
    only = [p for p in args.only.split(",") if p]
    paths = [p for p in notebook_paths() if not only or any(p.name.startswith(o) for o in only)]
    if args.edition == "student":
        written = student()
        print(f"student edition: {len(written)} notebooks in {written[0].parent.relative_to(ROOT)}")
    elif args.edition == "slides":
        written = slides(paths)
        print(f"slides: {len(written)} in {written[0].parent.relative_to(ROOT)}")
    else:
        changed = slidemeta()
        print(f"slide metadata: {len(changed)} notebook(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
