"""The environment report: every capability checked with a timeout, and clear sentences when missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from helpers import envcheck


def test_the_report_covers_every_capability_and_returns_plain_data():
    started = time.monotonic()
    checks = envcheck.report()
    keys = [c.key for c in checks]
    assert keys == ["place", "python", "docker", "registry", "compose", "swarm", "libvirt-test", "libvirt-qemu", "kvm"]
    data = envcheck.as_dict(checks)
    assert all({"ok", "detail", "fix"} <= set(v) for v in data.values())
    assert all(v["fix"] for v in data.values() if not v["ok"]), "every missing piece says what to do"
    assert data["libvirt-test"]["ok"], "the embedded libvirt driver always works"
    assert time.monotonic() - started < 60
    html = envcheck.table_html(checks)
    assert html.count("<tr>") == len(checks) + 1


def test_the_kvm_probe_never_hangs_and_is_cached():
    started = time.monotonic()
    first = envcheck.kvm_probe(timeout=15)
    assert time.monotonic() - started < 30
    assert set(first) >= {"ok", "seconds", "reason"}
    started = time.monotonic()
    assert envcheck.kvm_probe(timeout=15) == first
    assert time.monotonic() - started < 0.5


def test_tcg_boots_the_probe_guest():
    result = envcheck.probe_boot("tcg", timeout=60)
    assert result["ok"], result


def test_a_docker_daemon_that_is_down_is_one_sentence():
    code = ("from helpers import envcheck\nfrom helpers.containers import engine as docker_engine\n"
            "c = envcheck.check_docker(timeout=2); print(c.ok); print(c.detail); print(c.fix)\n"
            "try:\n    docker_engine.client()\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock",
                              "WORKBOOK_NO_SWEEP": "1"}).stdout.splitlines()
    assert out[0] == "False"
    assert out[1] == "The Docker daemon does not answer."
    assert "systemctl start docker" in out[2]
    assert out[3].startswith("DaemonUnavailable The Docker daemon does not answer: start it")


def test_an_unreachable_libvirt_is_reported_not_raised():
    code = ("from helpers import envcheck\n"
            "c = envcheck.check_libvirt_qemu(timeout=5); print(c.ok); print(c.fix)\n")
    env = {**os.environ, "LIBVIRT_DEFAULT_URI": "", "XDG_RUNTIME_DIR": "/nonexistent", "WORKBOOK_NO_SWEEP": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    lines = out.stdout.splitlines()
    assert lines[0] in ("True", "False")
    if lines[0] == "False":
        assert "libvirtd" in lines[1]


def test_banner_reports_only_what_is_missing(capsys):
    available = envcheck.banner("docker", "kvm")
    assert set(available) == {"docker", "kvm"}


def test_check_answer_judges_a_boolean_and_explains_other_answers():
    truth = envcheck.check_registry().ok
    right = envcheck.check_answer("registry", truth)
    assert right and "Right" in str(right)
    wrong = envcheck.check_answer("registry", not truth)
    assert not wrong and "row 'Image registry'" in str(wrong)
    for words in ["no", "yes", "False"]:      # right or wrong in words: the check asks for a boolean
        verdict = envcheck.check_answer("registry", words)
        assert not verdict and "Answer True or False, without quotes" in str(verdict)
        assert "says it in words" in str(verdict) and "is not what this machine does" not in str(verdict)
    verdict = envcheck.check_answer("registry", None)
    assert not verdict and not verdict.attempted and "Replace None with True or False" in str(verdict)


@pytest.mark.docker
def test_the_place_check_reads_the_limits_a_container_was_given(tmp_path):
    """Inside a container with -m and --cpus (as the portable image or a hub's spawner gives), the
    report names those limits, not the machine's."""
    import inspect

    from helpers.containers import engine
    from helpers.containers.base_images import ensure_image
    from helpers.core.session import labels

    script = tmp_path / "limits.py"
    script.write_text("import os, contextlib\nfrom pathlib import Path\n" + inspect.getsource(envcheck._cgroup_file)
                      + inspect.getsource(envcheck.limits) + "print(limits())\n")
    ensure_image("python", quiet=True)
    out = engine.client().containers.run("python", ["python3", "/limits.py"], remove=True, labels=labels(),
                                         mem_limit="300m", nano_cpus=int(1.5e9),
                                         volumes={str(script): {"bind": "/limits.py", "mode": "ro"}})
    assert out.decode().strip() == "{'cpus': 1.5, 'memory_mib': 300}"
    here = envcheck.check_place()
    assert here.ok and "inside the portable image" not in here.detail and here.data["cpus"] >= 1
