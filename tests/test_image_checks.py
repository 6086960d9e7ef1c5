"""The 'small image answering on port 5000' checker: one correct and several incorrect answers."""

import pytest

import helpers
from helpers import docker_engine, docker_storage as ds, image_checks, session

pytestmark = pytest.mark.skipif(not docker_engine.available(), reason="no Docker daemon")

# The RUN line of data/dockerfiles/myphp/Dockerfile.cache-friendly: built once, then cached.
BASE = """FROM debian
RUN apt-get update && apt-get install -y --no-install-recommends php-cli \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY www /www
"""
PAGE = {"www/index.php": "<?php echo 'hi';\n"}


@pytest.fixture(scope="module", autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def _context(name, tail):
    return image_checks.write_context(name, {"Dockerfile": BASE + tail, **PAGE})


def test_correct_solution_passes():
    ctx = _context("ok", 'EXPOSE 5000\nCMD ["php", "-S", "0.0.0.0:5000", "-t", "/www"]\n')
    verdict = image_checks.check_small_web_image(ctx, max_mb=200)
    assert verdict.passed, verdict
    assert "answered HTTP 200" in str(verdict) and "published on 127.0.0.1:" in str(verdict)
    image = docker_engine.client().images.get(session.resource_name("exercise-web"))
    assert image.labels[session.SESSION_LABEL] == session.SESSION_ID
    # The container it ran is gone again.
    left = docker_engine.client().api.containers(all=True, filters=docker_engine.session_filter())
    assert not [c for c in left if "check-web" in c["Names"][0]]


def test_build_error_fails():
    ctx = image_checks.write_context("broken", {"Dockerfile": "FROM debian\nRUN no-such-command\n"})
    verdict = image_checks.check_small_web_image(ctx)
    assert not verdict.passed
    assert "does not build" in str(verdict) and "127" in str(verdict)


def test_wrong_port_fails():
    ctx = _context("port", 'CMD ["php", "-S", "0.0.0.0:8080", "-t", "/www"]\n')
    verdict = image_checks.check_small_web_image(ctx, timeout=6)
    assert not verdict.passed
    assert "8080, not on 5000" in str(verdict)


def test_loopback_only_fails():
    ctx = _context("loop", 'CMD ["php", "-S", "127.0.0.1:5000", "-t", "/www"]\n')
    verdict = image_checks.check_small_web_image(ctx, timeout=6)
    assert not verdict.passed
    assert "loopback" in str(verdict)


def test_too_big_fails():
    ctx = _context("big", 'CMD ["php", "-S", "0.0.0.0:5000", "-t", "/www"]\n')
    verdict = image_checks.check_small_web_image(ctx, max_mb=150)
    assert not verdict.passed
    assert "over the 150 MB limit" in str(verdict)


def test_no_server_fails():
    ctx = image_checks.write_context("noserver", {"Dockerfile": "FROM debian\n"})
    verdict = image_checks.check_small_web_image(ctx, timeout=3)
    assert not verdict.passed
    assert "stopped" in str(verdict) or "Nothing answered" in str(verdict)
