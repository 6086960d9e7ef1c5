"""Strip outputs and execution counts from notebooks before committing.

    python scripts/nbstrip.py notebooks/*.ipynb
"""

from __future__ import annotations

import sys

import nbformat

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (cloud workbook)", "language": "python"}


def strip(path: str) -> bool:
    """Strip ``path`` in place; True when it changed.  Also ensures a kernelspec."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata.setdefault("language_info", {"name": "python"})
    after = nbformat.writes(nb)
    if after != before:
        with open(path, "w") as fh:
            fh.write(after)
    return after != before


if __name__ == "__main__":
    changed = [p for p in sys.argv[1:] if strip(p)]
    print(f"stripped {len(changed)} of {len(sys.argv) - 1} notebook(s)")
