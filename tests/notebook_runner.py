"""Execute a notebook for real in a fresh kernel of its own workbook session."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def workbook_meta(path: Path) -> dict:
    """The notebook's ``metadata.workbook``: ``timeout`` (s) and ``variants`` (env dicts)."""
    return dict(nbformat.read(path, as_version=4).metadata.get("workbook", {}))


def new_session_id() -> str:
    return uuid.uuid4().hex[:8]


def kernel_env(path: Path, sid: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "WORKBOOK_SESSION": sid, "WORKBOOK_NOTEBOOK": path.name,
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            # A notebook must clean up by itself: the kernel's exit hook would hide a leak.
            "WORKBOOK_NO_ATEXIT_CLEANUP": "1", **(extra_env or {})}


def client_for(path: Path, cell_timeout: int = 600) -> tuple[NotebookClient, nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    return client, nb


def execute(path: Path, sid: str, extra_env: dict[str, str] | None = None,
            cell_timeout: int = 600) -> nbformat.NotebookNode:
    """Run every cell of ``path``; raises nbclient's CellExecutionError on the first failure."""
    client, nb = client_for(path, cell_timeout)
    client.execute(env=kernel_env(path, sid, extra_env))
    return nb
