"""The portable image for arm64 (Apple Silicon, arm64 servers), run here under emulation.

``cloud-workbook:<version>-arm64`` is built by ``scripts/image.sh arm64`` on this amd64 machine:
debootstrap, apt and pip run as arm64 programs through QEMU's user-mode emulator (binfmt_misc).
This test runs the same image the same way: the architecture its configuration and its programs
report, ``import helpers``, the environment report from the command line (``python -m
helpers.envcheck``), and a whole start with ``scripts/run-image.sh`` (the inner daemons and
JupyterLab). What emulation cannot show (speed, KVM, the tiny guest, which is x86 only) is in the
README. Opt-in, as the amd64 image's test: ``WORKBOOK_TEST_IMAGE=1``; the image is built only if
it is missing (40 minutes or more under emulation).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import image_tools
import pytest
import requests

import helpers
from helpers.core.servers import free_port
from helpers.core.session import SESSION_ID, SESSION_LABEL, resource_name

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
TAG = f"{helpers.__version__}-arm64"
REF = f"cloud-workbook:{TAG}"
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
URL = re.compile(r"JupyterLab: (http://127\.0\.0\.1:\d+/\S+\?token=(\w+))")

pytestmark = [pytest.mark.docker, pytest.mark.image, pytest.mark.timeout(5400),
              pytest.mark.skipif(os.environ.get("WORKBOOK_TEST_IMAGE") != "1",
                                 reason="the arm64 image's test runs with WORKBOOK_TEST_IMAGE=1 (slow: emulated)")]


def _docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    return image_tools.docker(*args, timeout=timeout, check=check)


def _record(line: str) -> None:
    image_tools.record("image-arm64.log", line)


def _run(*argv: str, flags: tuple[str, ...] = (), timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    """``argv`` in a new arm64 container of the image (its entrypoint, the daemons, bypassed)."""
    started = time.monotonic()
    done = _docker("run", "--rm", "--platform", "linux/arm64", *flags, "--entrypoint", argv[0], REF, *argv[1:],
                   timeout=timeout, check=False)
    return done, time.monotonic() - started


@pytest.fixture(scope="module")
def image():
    if not BINFMT.exists():
        pytest.skip("this machine cannot run arm64 programs: no qemu-aarch64 in binfmt_misc "
                    "(apt-get install qemu-user-static binfmt-support)")
    if _docker("image", "inspect", REF, check=False).returncode:
        started = time.monotonic()
        done = subprocess.run(["scripts/image.sh", "arm64"], cwd=ROOT, capture_output=True, text=True, timeout=5400)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        _record(f"scripts/image.sh arm64: {time.monotonic() - started:.0f} s")
    return REF


def test_the_image_is_arm64_in_its_configuration_and_its_programs(image):
    arch, size = _docker("image", "inspect", image, "--format", "{{.Os}}/{{.Architecture}} {{.Size}}").stdout.split()
    assert arch == "linux/arm64"
    done, seconds = _run("sh", "-c", "uname -m; dpkg --print-architecture; head -n 1 /etc/cloud-workbook-image")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["aarch64", "arm64", helpers.__version__], done.stdout
    _record(f"{image}: {arch}, {int(size) / 1e6:.0f} MB; a container's first program answered in {seconds:.1f} s")


def test_the_workbook_imports_under_emulation(image):
    done, seconds = _run("python", "-c", "import platform, helpers, helpers.envcheck, docker, libvirt, jupyterlab; "
                         "print(helpers.__version__, platform.machine())")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [helpers.__version__, "aarch64"], done.stdout
    _record(f"import helpers (and docker, libvirt, jupyterlab) in a new container: {seconds:.1f} s")


def test_the_environment_report_says_it_runs_in_the_image_and_names_the_hosts_limits(image):
    done, seconds = _run("python", "-m", "helpers.envcheck", flags=("--cpus", "1", "--memory", "1g"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    place = next(line for line in done.stdout.splitlines() if "Where this runs" in line)
    assert f"inside the portable image cloud-workbook:{helpers.__version__}" in place, done.stdout
    assert "1 CPU(s) and 1024 MiB of memory may be used" in place, place
    assert "Python" in done.stdout and "aarch64" in done.stdout, done.stdout
    _record(f"python -m helpers.envcheck (no daemons started, --cpus 1 --memory 1g) in {seconds:.0f} s:\n"
            + done.stdout.rstrip())


@pytest.fixture(scope="module")
def box(image):
    """One container started as a student would (scripts/run-image.sh) on two volumes of this session."""
    prefix, name, port = resource_name("arm"), resource_name("arm"), free_port()
    for kind in ("work", "docker"):
        _docker("volume", "create", "--label", f"{SESSION_LABEL}={SESSION_ID}", f"{prefix}-{kind}")
    env = {**os.environ, "WORKBOOK_IMAGE_TAG": TAG, "WORKBOOK_IMAGE_NAME": name, "WORKBOOK_PORT": str(port),
           "WORKBOOK_VOLUME_PREFIX": prefix, "WORKBOOK_DETACH": "1"}
    started = time.monotonic()
    subprocess.run(["scripts/run-image.sh", "--label", f"{SESSION_LABEL}={SESSION_ID}"],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300)
    yield name, port, started
    _docker("rm", "-f", name, check=False)
    for kind in ("work", "docker"):
        _docker("volume", "rm", f"{prefix}-{kind}", check=False)


def _logs(name: str) -> str:
    done = _docker("logs", name, check=False)
    return done.stdout + done.stderr


#: Measured here (docker 20.10, QEMU 7.2 user mode): the entrypoint's dockerd stops at
#: "iptables -t nat -N DOCKER: iptables: Failed to initialize nft: Protocol not supported" (QEMU's
#: user mode does not translate nftables' netlink), so setup.sh gives up after 30 s and the container
#: ends before JupyterLab. On arm64 hardware nothing is emulated: not tested here.
EMULATED_DAEMONS = pytest.mark.xfail(reason="under QEMU user-mode emulation the inner dockerd cannot use "
                                            "iptables (nft: Protocol not supported)", strict=False)


@EMULATED_DAEMONS
def test_run_image_starts_jupyterlab_under_emulation(box):
    name, port, started = box
    logs = ""
    while True:
        logs = _logs(name) or logs  # --rm: the last logs seen, once the container is gone
        found = URL.search(logs)
        if found:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status", params={"token": found.group(2)},
                                timeout=5).ok:
                    break
            except requests.RequestException:
                pass
        assert _docker("inspect", name, check=False).returncode == 0, "the container ended:\n" + logs
        assert time.monotonic() - started < 1200, "no JupyterLab within 20 minutes:\n" + logs
        time.sleep(2)
    _record(f"run-image.sh (arm64, emulated): JupyterLab answered {time.monotonic() - started:.0f} s after docker run")


@EMULATED_DAEMONS
def test_the_inner_daemons_under_emulation(box):
    name, _, _ = box
    seen = {}
    for what, argv in {"dockerd": ["docker", "info", "--format", "{{.Driver}} {{.ServerVersion}}"],
                       # The inner engine has no base image yet (built at first use): a container of
                       # busybox alone shows whether runc starts one under emulation (recorded only).
                       "a container": ["sh", "-c", "mkdir -p /tmp/bb/bin && cp /bin/busybox /tmp/bb/bin/ && "
                                       "tar -C /tmp/bb -c . | docker import -q - wb-busybox >/dev/null && "
                                       "docker run --rm wb-busybox /bin/busybox uname -m"],
                       "libvirtd": ["virsh", "-c", "qemu:///system", "version"]}.items():
        done = _docker("exec", name, *argv, timeout=600, check=False)
        seen[what] = (done.returncode, (done.stdout + done.stderr).strip().splitlines()[-1:] or [""])
    _record("inside the arm64 container: " + "; ".join(f"{w}: {'ok' if rc == 0 else 'NO'} ({out[0][:160]})"
                                                       for w, (rc, out) in seen.items()))
    assert seen["dockerd"][0] == 0 and seen["libvirtd"][0] == 0, seen
