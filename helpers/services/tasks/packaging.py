"""Copy the tasks service into a container image's build context (notebooks 12 and 14)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

SERVICE = "services.tasks"  # this package, relative to helpers/
_HELPERS = Path(__file__).resolve().parents[2]  # helpers/services/tasks/packaging.py -> helpers/
_IMPORT = re.compile(r"^\s*from helpers\.([\w.]+) import", re.M)


def package_into(folder: str | os.PathLike) -> Path:
    """Copy this service into ``folder/helpers/``, for a container image's build context.

    The image needs only this package (every module of it, ``__main__.py``
    included, so that ``python -m helpers.services.tasks`` runs), the workbook
    modules they import (``from helpers.core.errors import ...``, followed
    transitively) and an ``__init__.py`` in each folder above them, not the
    whole workbook.  Returns the ``helpers`` folder inside ``folder``.
    """
    package = Path(folder) / "helpers"
    todo, seen = [SERVICE], set()
    while todo:
        dotted = todo.pop()
        if dotted in seen:
            continue
        seen.add(dotted)
        path = _HELPERS / dotted.replace(".", "/")
        if dotted == SERVICE:
            sources = sorted(path.glob("*.py"))
        elif path.with_suffix(".py").is_file():
            sources = [path.with_suffix(".py")]
        else:
            continue  # a package of the workbook: its folder gets a stub __init__.py below
        for source in sources:
            target = package / source.relative_to(_HELPERS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            todo += _IMPORT.findall(source.read_text(encoding="utf-8"))
    for folder_ in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        init = folder_ / "__init__.py"
        if not init.exists():
            init.write_text('"""Only the modules the tasks service needs."""\n')
    return package
