"""The workbook in a real browser: JupyterLab in headless Chromium runs the set-up check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from browser_check import CHROMIUM, ROOT, run_in_browser

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

ARTIFACTS = ROOT / "artifacts"


def test_setup_check_runs_in_jupyterlab_and_its_widget_renders():
    summary = run_in_browser(ROOT / "notebooks" / "00-setup-check.ipynb", ARTIFACTS / "00-setup-check.png",
                             timeout=300, pages=6)
    assert summary["unexecuted"] == 0, summary
    assert summary["errors"] == [], summary
    assert summary["loading_widgets"] == 0 and summary["widget_errors"] == 0, summary
    assert summary["widgets"] >= 1, "the environment report widget did not render"
    assert Path(summary["screenshots"][0]).stat().st_size > 10_000


def _notebook_area_has_content(png: str) -> bool:
    from PIL import Image

    img = Image.open(png).convert("L")
    w, h = img.size
    area = img.crop((int(w * 0.23), int(h * 0.12), int(w * 0.95), int(h * 0.88)))  # right of the file browser
    dark = sum(1 for p in area.tobytes() if p < 200)
    return dark > 200


def test_the_last_screenshot_page_is_not_blank():
    summary = run_in_browser(ROOT / "notebooks" / "00-setup-check.ipynb", ARTIFACTS / "00-pages.png",
                             timeout=300, pages=12)
    assert all(_notebook_area_has_content(p) for p in summary["screenshots"]), summary["screenshots"]


def test_the_browser_check_sees_a_one_sentence_error():
    import nbformat

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "99-browser-error.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (cloud workbook)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import helpers, docker\ndocker.from_env().containers.get('sitee')"),
                nbformat.v4.new_code_cell("helpers.cleanup();")]
    nbformat.write(nb, path)
    try:
        summary = run_in_browser(path, ARTIFACTS / "99-browser-error.png", timeout=120, pages=2)
    finally:
        path.unlink(missing_ok=True)
    assert any("NotFound" in e and "no such object" in e for e in summary["errors"]), summary
