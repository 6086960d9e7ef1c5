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
