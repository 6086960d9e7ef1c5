"""The 'small image answering on port 5000' checker: one correct and several incorrect answers."""

import time

import pytest

import helpers
from helpers.containers import engine, images as di, storage as ds, image_checks
from helpers.core import session
from helpers.core.verdict import Verdict

pytestmark = pytest.mark.docker

# The RUN line of data/dockerfiles/myphp/Dockerfile.cache-friendly: built once, then cached.
BASE = """FROM debian
RUN apt-get update && apt-get install -y --no-install-recommends php-cli \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY www /www
"""
PAGE = {"www/index.php": "<?php echo 'hi';\n"}
SERVE = 'CMD ["php", "-S", "0.0.0.0:5000", "-t", "/www"]\n'


@pytest.fixture(scope="module", autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def _context(name, tail):
    return image_checks.write_context(name, {"Dockerfile": BASE + tail, **PAGE})


def test_correct_solution_passes():
    ctx = _context("ok", "EXPOSE 5000\n" + SERVE)
    verdict = image_checks.check_small_web_image(ctx, max_mb=200)
    assert isinstance(verdict, Verdict) and verdict, verdict
    assert "answered HTTP 200" in str(verdict) and "published on 127.0.0.1:" in str(verdict)
    image = engine.client().images.get(session.resource_name("exercise-web"))
    assert image.labels[session.SESSION_LABEL] == session.SESSION_ID
    assert image.id[7:19] in str(verdict)  # the verdict names the image it built from this context
    # The container it ran is gone again.
    left = engine.client().api.containers(all=True, filters=engine.session_filter())
    assert not [c for c in left if "check-web" in c["Names"][0]]


@pytest.mark.parametrize("dockerfile", [None, "# your code here\n", "\n\n# FROM debian\n"])
def test_no_dockerfile_yet_is_not_attempted(dockerfile):
    files = {} if dockerfile is None else {"Dockerfile": dockerfile}
    ctx = image_checks.write_context("starter", files)
    verdict = image_checks.check_small_web_image(ctx)
    assert not verdict and not verdict.attempted
    assert "NOT ATTEMPTED" in str(verdict) and "starts FROM" in str(verdict)


def test_build_error_fails():
    ctx = image_checks.write_context("broken", {"Dockerfile": "FROM debian\nRUN no-such-command\n"})
    verdict = image_checks.check_small_web_image(ctx)
    assert not verdict
    assert "does not build" in str(verdict) and "127" in str(verdict) and "step 2/2" in str(verdict)


def test_a_failed_build_leaves_no_earlier_image_to_judge():
    image_checks.check_small_web_image(_context("first", "EXPOSE 5000\n" + SERVE))
    image_checks.check_small_web_image(image_checks.write_context("broken2", {"Dockerfile": "FROM debian\nRUN exit 1\n"}))
    assert not engine.client().images.list(name=session.resource_name("exercise-web"))


def test_wrong_port_fails():
    ctx = _context("port", 'EXPOSE 5000\nCMD ["php", "-S", "0.0.0.0:8080", "-t", "/www"]\n')
    verdict = image_checks.check_small_web_image(ctx, timeout=6)
    assert not verdict
    assert "8080, not on 5000" in str(verdict) and "listen on port 5000" in str(verdict)


def test_loopback_only_fails_quickly():
    ctx = _context("loop", 'EXPOSE 5000\nCMD ["php", "-S", "127.0.0.1:5000", "-t", "/www"]\n')
    di.build(ctx, session.resource_name("warm"))  # the build cache holds it now: time the waiting only
    started = time.monotonic()
    verdict = image_checks.check_small_web_image(ctx, timeout=20)
    assert not verdict
    assert "loopback" in str(verdict) and "0.0.0.0" in str(verdict)
    assert time.monotonic() - started < 12  # it does not wait for the 20 s deadline


def test_too_big_fails():
    ctx = _context("big", "EXPOSE 5000\n" + SERVE)
    verdict = image_checks.check_small_web_image(ctx, max_mb=150)
    assert not verdict
    assert "over the 150 MB limit" in str(verdict) and "layers" in str(verdict)


def test_missing_expose_fails():
    verdict = image_checks.check_small_web_image(_context("noexpose", SERVE))
    assert not verdict
    assert "does not declare port 5000" in str(verdict) and "add EXPOSE 5000" in str(verdict)
    assert "answered HTTP 200" in str(verdict)  # the rest is still judged


def test_missing_cmd_fails():
    verdict = image_checks.check_small_web_image(_context("nocmd", "EXPOSE 5000\n"), timeout=5)
    assert not verdict
    assert "stopped" in str(verdict) and "CMD" in str(verdict)


def test_listening_ports_are_read_from_proc_net_tcp():
    text = ("  sl  local_address rem_address   st\n"
            "   0: 0100007F:1388 00000000:0000 0A\n"
            "   1: 00000000:1F90 00000000:0000 0A\n"
            "   2: 0100007F:0050 0100007F:1234 01\n")
    assert image_checks._listening_ports(text) == {("127.0.0.1", 5000), ("0.0.0.0", 8080)}
    assert image_checks._only_loopback({("127.0.0.1", 5000)}, 5000)
    assert not image_checks._only_loopback({("0.0.0.0", 5000)}, 5000)


def test_instructions_skip_comments_and_continuations():
    assert image_checks._instructions("# c\nFROM debian\nRUN a \\\n  && b\n\nCMD x\n") == ["FROM debian", "RUN a \\", "CMD x"]
