"""Open a notebook in a real JupyterLab in headless Chromium, run all cells, take screenshots.

    python tests/browser_check.py notebooks/00-setup-check.ipynb artifacts/00.png [--timeout 600]

Writes ``artifacts/00.png`` (the top of the notebook after running) and
``artifacts/00-p2.png``, ``-p3``... (the notebook scrolled a screen at a
time), and prints a JSON summary: cells, errors, widgets still loading.
Used by tests/test_browser.py; engineers use it to look at their notebooks.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from helpers.core.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("WORKBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SETTINGS = {
    # Never write the executed notebook back: committed notebooks carry no outputs.
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    # Render every cell (no virtual scrolling), so screenshots and checks see all outputs.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No news or update checks: there is no internet, and their toasts cover the page.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


@contextmanager
def jupyter_lab(env: dict[str, str] | None = None):
    """A JupyterLab server on a free loopback port; yields (base_url, token)."""
    port, token = free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="lab-") as tmp:
        settings_dir = Path(tmp) / "settings"
        for rel, value in SETTINGS.items():
            path = settings_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
                f"--LabApp.user_settings_dir={settings_dir}", f"--LabApp.workspaces_dir={tmp}/ws",
                "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: read the outputs' types
        if os.geteuid() == 0:
            argv.append("--allow-root")
        log = open(Path(tmp) / "lab.log", "w")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError("JupyterLab did not start: " + (Path(tmp) / "lab.log").read_text()[-2000:])
                time.sleep(0.3)
            yield base, token
        finally:
            # Shut kernels down politely first, so their exit hooks clean up.
            try:
                for s in requests.get(f"{base}/api/sessions", params={"token": token}, timeout=5).json():
                    requests.delete(f"{base}/api/sessions/{s['id']}", params={"token": token}, timeout=30)
            except (requests.RequestException, ValueError):
                pass
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()


def run_in_browser(notebook: Path | str, screenshot: Path, timeout: float = 600, pages: int = 40,
                   server: tuple[str, str] | None = None) -> dict:
    """Run all cells of ``notebook`` in JupyterLab in Chromium; save screenshots; return a summary.

    ``server`` = (base URL, token) of a JupyterLab that already runs (the portable image's):
    ``notebook`` is then a path relative to its root. Otherwise a JupyterLab is started here."""
    from contextlib import nullcontext

    from playwright.sync_api import sync_playwright

    if server is None:
        rel = Path(notebook).resolve().relative_to(ROOT).as_posix()
    else:
        rel = str(notebook)
    screenshot = Path(screenshot)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with (nullcontext(server) if server else jupyter_lab()) as (base, token), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/{rel}?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        started = time.monotonic()

        def dismiss_dialogs():
            # A dialog (kernel choice, a notice) blocks the menus: accept its default, or close it.
            for _ in range(3):
                dialog = page.locator(".jp-Dialog")
                if not dialog.count():
                    return
                accept = dialog.locator(".jp-Dialog-button.jp-mod-accept")
                try:
                    accept.first.click(timeout=5_000)
                except Exception:
                    page.keyboard.press("Escape")
                page.wait_for_timeout(500)

        def run_all():
            for _attempt in range(4):  # the first click can land before the kernel is connected
                dismiss_dialogs()
                try:
                    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
                    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click(timeout=10_000)
                except Exception:  # something covered the menu (a dialog that just opened): try again
                    page.keyboard.press("Escape")
                    continue
                try:
                    page.wait_for_function("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                        .some(p => p.innerText.trim() !== '[ ]:' && p.innerText.trim() !== '')""", timeout=15_000)
                    return
                except Exception:
                    page.keyboard.press("Escape")

        def unexecuted() -> int:
            return page.evaluate("""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                .filter(p => p.innerText.trim() === '[ ]:').length""")

        run_all()
        page.wait_for_timeout(1500)
        reruns = 0
        while time.monotonic() - started < timeout:
            busy = page.locator(".jp-InputArea-prompt", has_text="[*]").count()
            idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
            if not busy and idle:
                page.wait_for_timeout(1000)  # idle between two cells is not the end
                if page.locator(".jp-InputArea-prompt", has_text="[*]").count():
                    continue
                if unexecuted() and reruns < 2:
                    # A run that stopped early without an error (a click that reached
                    # the kernel before it was ready): run the whole notebook again.
                    reruns += 1
                    run_all()
                    continue
                break
            page.wait_for_timeout(500)
        else:
            page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-timeout.png")))
            raise TimeoutError(f"{rel} was still running after {timeout:g} s in the browser")
        page.wait_for_timeout(1500)  # let widgets and images finish rendering
        summary = page.evaluate("""() => {
            const outs = [...document.querySelectorAll('.jp-OutputArea-output')];
            const text = outs.map(o => o.innerText).join('\\n');
            return {
              cells: document.querySelectorAll('.jp-Notebook .jp-Cell').length,
              code_cells: document.querySelectorAll('.jp-Notebook .jp-CodeCell').length,
              unexecuted: [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
                  .filter(p => p.innerText.trim() === '[ ]:').length,
              // every error output counts (a one-sentence NotFound too), and stderr with a traceback:
              // read from the notebook's model, where an output still has its output_type
              errors: (() => {
                const app = window.jupyterapp, panel = app && app.shell.currentWidget;
                if (!panel || !panel.content || !panel.content.model) return ['cannot read the notebook model'];
                const found = [], cells = panel.content.model.cells;
                for (let i = 0; i < cells.length; i++) {
                  const cell = cells.get(i);
                  if (cell.type !== 'code') continue;
                  for (let j = 0; j < cell.outputs.length; j++) {
                    const o = cell.outputs.get(j).toJSON();
                    const text = Array.isArray(o.text) ? o.text.join('') : (o.text || '');
                    if (o.output_type === 'error') found.push(`cell ${i + 1}: ${o.ename}: ${o.evalue}`.slice(0, 300));
                    else if (o.name === 'stderr' && /Traceback [(]most recent call last[)]/.test(text))
                      found.push(`cell ${i + 1}: ${text.slice(0, 300)}`);
                  }
                }
                return found; })(),
              loading_widgets: (text.match(/Loading widget\\.\\.\\./g) || []).length,
              widget_errors: (text.match(/Error displaying widget|Model not found/g) || []).length,
              widgets: document.querySelectorAll('.jupyter-widgets').length,
              images: document.querySelectorAll('.jp-OutputArea-output img').length,
              tables: document.querySelectorAll('.jp-OutputArea-output table').length,
            };
        }""")
        scroller = ".jp-NotebookPanel .jp-WindowedPanel-outer"
        page.evaluate(f"document.querySelector('{scroller}').scrollTop = 0")
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshot))
        shots = [str(screenshot)]
        for n in range(2, pages + 1):
            # Scroll a screen on; stop when nothing of the last cell would be on the page (no blank page).
            moved = page.evaluate(f"""() => {{ const s = document.querySelector('{scroller}');
                const cells = document.querySelectorAll('.jp-Notebook .jp-Cell');
                const last = cells[cells.length - 1];
                const before = s.scrollTop; s.scrollTop += s.clientHeight - 80;
                const visible = last && last.getBoundingClientRect().bottom > s.getBoundingClientRect().top + 40;
                return s.scrollTop > before && visible; }}""")
            if not moved:
                break
            page.wait_for_timeout(300)
            shot = screenshot.with_name(f"{screenshot.stem}-p{n}{screenshot.suffix}")
            page.screenshot(path=str(shot))
            shots.append(str(shot))
        summary["screenshots"] = shots
        summary["seconds"] = round(time.monotonic() - started, 1)
        summary["reruns"] = reruns
        browser.close()
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("screenshot", type=Path)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args()
    summary = run_in_browser(args.notebook, args.screenshot, args.timeout, args.pages)
    print(json.dumps(summary, indent=2))
    ok = not (summary["errors"] or summary["unexecuted"] or summary["loading_widgets"] or summary["widget_errors"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
