"""The set-up script explains precisely what is missing instead of failing obscurely."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "setup.sh"


def _shim(tmp_path: Path, name: str, script: str) -> None:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)


def _run(tmp_path: Path, as_nobody: bool = False, script: Path = SETUP) -> subprocess.CompletedProcess:
    env = {"PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path),
           "WORKBOOK_VENV": str(tmp_path / "venv")}
    argv = ["bash", str(script)]
    if as_nobody:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_on_macos_it_says_what_to_do_instead(tmp_path):
    _shim(tmp_path, "uname", 'echo Darwin')
    result = _run(tmp_path)
    assert result.returncode == 1
    assert "This is Darwin, not Linux" in result.stderr
    assert "conda env create -f environment.yml" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_without_root_it_prints_the_one_command_to_run():
    import shutil
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="setup-nobody-"))  # pytest's tmp is private to root
    tmp_path.chmod(0o777)
    request_cleanup = lambda: shutil.rmtree(tmp_path, ignore_errors=True)  # noqa: E731
    _shim(tmp_path, "dpkg-query", 'echo "deinstall ok config-files"')  # every package looks missing
    # The checkout may sit in a folder only root can enter (a home folder, mktemp -d): give
    # nobody a readable copy of the script, in a checkout-shaped folder (it cd's to its parent).
    script = tmp_path / "checkout" / "scripts" / "setup.sh"
    script.parent.mkdir(parents=True)
    shutil.copy(SETUP, script)
    for path in (script.parent.parent, script.parent, script):
        path.chmod(0o755)
    result = _run(tmp_path, as_nobody=True, script=script)
    assert result.returncode == 1, result.stderr
    assert "Missing system packages. Run this once, then run the command again:" in result.stderr
    request_cleanup()
    assert "sudo apt-get update && sudo apt-get install -y --no-install-recommends" in result.stderr
    assert "docker.io" in result.stderr and "libvirt-daemon-system" in result.stderr


def _ordinary_user_with_everything_installed(tmp_path: Path, docker_says: str, virsh_says: str) -> str:
    """Run the script as a non-root user on a machine where packages and venv are in place, with
    ``docker info`` and ``virsh version`` answering as given (exit 1)."""
    import hashlib

    _shim(tmp_path, "id", 'if [ "$1" = -u ]; then echo 1000; else /usr/bin/id "$@"; fi')
    _shim(tmp_path, "dpkg-query", 'echo "install ok installed"')
    _shim(tmp_path, "docker", f'echo "{docker_says}" >&2; exit 1')
    _shim(tmp_path, "virsh", f'echo "{virsh_says}" >&2; exit 1')
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    _shim(venv / "bin", "python", "exit 0")
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / ".workbook-stamp").write_text(stamp + "\n")
    result = _run(tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_running_daemon_closed_to_this_user_is_not_called_stopped(tmp_path):
    said = _ordinary_user_with_everything_installed(
        tmp_path,
        "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
        "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied")
    assert "The Docker daemon runs, but you may not talk to it: sudo usermod -aG docker" in said
    assert "libvirtd runs, but you may not manage its guests: sudo usermod -aG libvirt" in said
    assert "not running" not in said and "not reachable" not in said


def test_a_stopped_daemon_is_called_stopped(tmp_path):
    said = _ordinary_user_with_everything_installed(
        tmp_path, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory")
    assert "The Docker daemon is not running. Start it with: sudo systemctl start docker" in said
    assert "libvirtd is not reachable at qemu:///system" in said
