"""What the tests share: the skip conditions (``docker``, ``compose`` markers) and the clean-up after a module.

A module that needs the Docker daemon says ``pytestmark = pytest.mark.docker``; one that needs
Compose too says ``pytest.mark.compose``.  Such a module is skipped, with the reason, where the
daemon (or Compose) does not answer, and everything its tests created in this session is removed
when the module is done.
"""

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests' own modules (notebook_runner)


@functools.lru_cache(maxsize=None)
def _available(what: str) -> bool:
    if what == "docker":
        from helpers.containers import engine

        return engine.available()
    from helpers.orchestration import cli

    return cli.available()


_REASONS = {"docker": "needs the Docker daemon", "compose": "needs Docker and Docker Compose"}


def pytest_configure(config):
    for name, reason in _REASONS.items():
        config.addinivalue_line("markers", f"{name}: {reason} (skipped where it does not answer)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name, reason in _REASONS.items():
            if item.get_closest_marker(name) and not _available(name):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module", autouse=True)
def _clean_session_after_module(request):
    """After a module that uses Docker, remove what its tests created in this session."""
    yield
    if request.node.get_closest_marker("docker") or request.node.get_closest_marker("compose"):
        import helpers

        helpers.cleanup(quiet=True)
