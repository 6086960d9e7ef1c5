"""Slides: every cell of every notebook carries the slide metadata that ``scripts/editions.py slidemeta``
derives from the notebook's headings (title slide, a slide per ``##`` step, sub-slides and fragments
for its parts, the import and clean-up cells skipped), so a cell added later gets it too: run
``python scripts/editions.py slidemeta`` after editing a notebook."""

from __future__ import annotations

import importlib.util

import nbformat
import pytest

from notebook_runner import ROOT, notebook_paths

_spec = importlib.util.spec_from_file_location("editions", ROOT / "scripts" / "editions.py")
editions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(editions)


def test_every_cell_has_its_slide_metadata():
    stale = []
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        for cell, kind in zip(nb.cells, editions.slide_types(nb)):
            if cell.metadata.get("slideshow", {}).get("slide_type") != kind:
                stale.append(f"{path.name} cell {cell.get('id')}: {cell.metadata.get('slideshow')} (expected {kind})")
    assert not stale, "run python scripts/editions.py slidemeta:\n" + "\n".join(stale[:20])


def test_each_notebook_has_a_title_slide_and_steps():
    for path in notebook_paths():
        types = editions.slide_types(nbformat.read(path, as_version=4))
        assert types[0] == "slide", path.name
        assert types.count("slide") >= 2, f"{path.name}: no ## step became a slide"
        assert "skip" in types, f"{path.name}: the import cell should be skipped"


@pytest.mark.notebook
def test_slides_of_notebook_00_work_offline_in_a_browser():
    """``make slides`` for one notebook (the cheapest): executed here, exported with reveal.js from npm,
    and shown by Chromium with every local file found and reveal.js started (no CDN is reachable)."""
    from playwright.sync_api import sync_playwright

    [page] = editions.slides([p for p in notebook_paths() if p.name.startswith("00")])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 800})
            failed = []
            tab.on("requestfailed", lambda r: failed.append(r.url))
            tab.goto(page.as_uri())
            tab.wait_for_selector(".reveal.ready", timeout=20_000)
            assert tab.locator(".reveal .slides > section").count() >= 3
            assert not [u for u in failed if u.startswith("file:")], failed
        finally:
            browser.close()
