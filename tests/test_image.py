"""The portable image: built here offline, run as the README says, the workbook tested inside it.

One container of ``cloud-workbook:latest`` is started with ``scripts/run-image.sh`` (the
README's ``--privileged`` command, or the equivalent flags where the host refuses it) on
two fresh volumes of this test's session. The notebooks that cover every part of the
chapter then run inside it with the workbook's own notebook test, JupyterLab is driven from
the host through the published port in Chromium, the container is stopped and started
again on the same volumes, and the host is checked for anything left.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import image_tools
import pytest
import requests

import unowned
from helpers.core import cleanup
from helpers.core.servers import free_port
from helpers.core.session import SESSION_ID, SESSION_LABEL, resource_name

pytestmark = [pytest.mark.docker, pytest.mark.image, pytest.mark.timeout(3600),
              # About 20 minutes (a cached build, then the notebooks of every part inside the image):
              # outside `make test`'s time budget, so it runs with `make test-image` (WORKBOOK_TEST_IMAGE=1).
              pytest.mark.skipif(os.environ.get("WORKBOOK_TEST_IMAGE") != "1",
                                 reason="the portable image's test runs with make test-image (WORKBOOK_TEST_IMAGE=1)")]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
#: The notebooks run inside the image: every part of the chapter (services, HTTP, REST, libvirt,
#: containers, networks, images, Compose).
INSIDE = os.environ.get("WORKBOOK_IMAGE_NOTEBOOKS", "00,02,05,08,09,10,12,14")
URL = re.compile(r"JupyterLab: (http://127\.0\.0\.1:\d+/\S+\?token=(\w+))")


def _docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return image_tools.docker(*args, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def image():
    """cloud-workbook:latest, built by `make image`'s script (from cache when nothing changed)."""
    started = time.monotonic()
    done = subprocess.run(["scripts/image.sh"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    size = int(_docker("image", "inspect", "cloud-workbook:latest", "--format", "{{.Size}}").stdout)
    _record(f"make image: {time.monotonic() - started:.0f} s, cloud-workbook:latest {size / 1e6:.0f} MB")
    return "cloud-workbook:latest"


def _record(line: str) -> None:
    image_tools.record("image.log", line)


class Box:
    """The running container, its published port and its JupyterLab token."""

    def __init__(self, name: str, port: int, prefix: str):
        self.name, self.port, self.prefix = name, port, prefix
        self.url = self.token = None

    def start(self, timeout: float = 300) -> float:
        env = {**os.environ, "WORKBOOK_IMAGE_NAME": self.name, "WORKBOOK_PORT": str(self.port),
               "WORKBOOK_VOLUME_PREFIX": self.prefix, "WORKBOOK_DETACH": "1"}
        started = time.monotonic()
        subprocess.run(["scripts/run-image.sh", "--label", f"{SESSION_LABEL}={SESSION_ID}",
                        "-e", "JUPYTER_ARGS=--LabApp.expose_app_in_browser=True"],
                       cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=120)
        while time.monotonic() - started < timeout:
            found = URL.search(self.logs())
            if found:
                self.url, self.token = found.group(1), found.group(2)
                base = f"http://127.0.0.1:{self.port}"
                try:
                    if requests.get(f"{base}/api/status", params={"token": self.token}, timeout=3).ok:
                        return time.monotonic() - started
                except requests.RequestException:
                    pass
            if _docker("inspect", self.name, check=False).returncode:
                raise AssertionError("the container ended before JupyterLab answered:\n" + self.logs())
            time.sleep(0.5)
        raise AssertionError(f"no JupyterLab within {timeout} s:\n" + self.logs())

    def logs(self) -> str:
        done = _docker("logs", self.name, check=False)
        return done.stdout + done.stderr

    def exec(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return _docker("exec", self.name, *argv, timeout=timeout, check=False)

    def stop(self) -> float:
        started = time.monotonic()
        _docker("stop", self.name, timeout=60)
        while _docker("inspect", self.name, check=False).returncode == 0:  # --rm: it goes once stopped
            assert time.monotonic() - started < 60
            time.sleep(0.2)
        return time.monotonic() - started


@pytest.fixture(scope="module")
def box(image):
    prefix = resource_name("img")
    for kind in ("work", "docker"):  # the two volumes, owned by this test's session
        _docker("volume", "create", "--label", f"{SESSION_LABEL}={SESSION_ID}", f"{prefix}-{kind}")
    before = unowned.snapshot()
    b = Box(resource_name("image"), free_port(), prefix)
    b.before = before
    seconds = b.start()
    _record(f"first start (base images loaded into a new volume): JupyterLab answered {seconds:.1f} s after docker run")
    yield b
    _docker("rm", "-f", b.name, check=False)
    cleanup.cleanup(quiet=True)


def test_the_image_starts_the_inner_daemons_and_jupyterlab(box):
    logs = box.logs()
    assert "loading the base images" in logs and "base images loaded" in logs, logs
    info = box.exec("docker", "info", "--format", "{{.Driver}} {{.ServerVersion}}")
    assert info.returncode == 0 and info.stdout.startswith("overlay2"), info.stdout + info.stderr
    virsh = box.exec("virsh", "-c", "qemu:///system", "version")
    assert virsh.returncode == 0, virsh.stderr
    report = box.exec("python", "-c", "import json, helpers\nfrom helpers import envcheck\n"
                      "print(json.dumps(envcheck.as_dict(envcheck.report(kvm_timeout=15))))", timeout=120)
    data = json.loads(report.stdout.strip().splitlines()[-1])
    assert "inside the portable image cloud-workbook:" in data["place"]["detail"], data["place"]
    assert data["docker"]["ok"] and data["libvirt-qemu"]["ok"] and data["compose"]["ok"], data
    _record("inside: " + data["place"]["detail"] + " KVM: " + data["kvm"]["detail"])


def test_the_notebooks_of_every_part_pass_inside_the_image(box):
    started = time.monotonic()
    done = box.exec("bash", "-c", f"cd /opt/cloud-workbook/src && mkdir -p artifacts && WORKBOOK_ONLY={INSIDE} "
                    "python -m pytest tests/test_notebooks.py -q -p no:cacheprovider -rf "
                    "> artifacts/inside.log 2>&1; status=$?; cat artifacts/two-sessions.log; exit $status",
                    timeout=3000)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "image-inside.log").write_text(box.exec("cat", "/opt/cloud-workbook/src/artifacts/inside.log").stdout)
    summary = (ARTIFACTS / "image-inside.log").read_text().strip().splitlines()[-12:] \
        if (ARTIFACTS / "image-inside.log").exists() else []
    _record(f"notebooks {INSIDE} inside the image: {time.monotonic() - started:.0f} s\n" + done.stdout
            + "\n".join(summary))
    assert done.returncode == 0, f"see artifacts/image-inside.log: {summary}"


def test_jupyterlab_in_the_image_runs_00_in_a_browser_from_the_host(box):
    from browser_check import CHROMIUM, run_in_browser

    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium")
    summary = run_in_browser("notebooks/00-setup-check.ipynb", ARTIFACTS / "image-00.png", timeout=300, pages=4,
                             server=(f"http://127.0.0.1:{box.port}", box.token))
    assert summary["unexecuted"] == 0 and summary["errors"] == [], summary
    assert summary["widgets"] >= 1 and summary["loading_widgets"] == 0, summary


def test_a_second_start_on_the_same_volumes_is_quick_and_keeps_the_students_edits(box):
    marker = f"edited by the student {SESSION_ID}"
    edit = box.exec("python", "-c", "import json; p='/workbook/work/notebooks/00-setup-check.ipynb'; "
                    "nb=json.load(open(p)); nb['cells'][0]['source'].append('\\n" + marker + "'); "
                    "json.dump(nb, open(p, 'w'))")
    assert edit.returncode == 0, edit.stderr
    stop_seconds = box.stop()
    _record(f"docker stop: {stop_seconds:.1f} s")
    seconds = box.start()
    _record(f"second start (same volumes): JupyterLab answered {seconds:.1f} s after docker run")
    assert "loading the base images" not in box.logs()
    kept = box.exec("grep", "-c", marker, "/workbook/work/notebooks/00-setup-check.ipynb")
    assert kept.stdout.strip() == "1", "the student's edit did not survive the new container"
    assert seconds < 60


def test_stopping_leaves_nothing_on_the_host_but_the_image_and_the_two_volumes(box):
    box.stop()
    leaks = unowned.new_unowned(box.before, unowned.snapshot())
    assert not leaks, leaks
    mine = _docker("ps", "-a", "--filter", f"label={SESSION_LABEL}={SESSION_ID}", "--format", "{{.Names}}").stdout
    assert box.name not in mine
    volumes = _docker("volume", "ls", "--filter", f"label={SESSION_LABEL}={SESSION_ID}", "--format", "{{.Name}}")
    assert sorted(volumes.stdout.split()) == [f"{box.prefix}-docker", f"{box.prefix}-work"]
