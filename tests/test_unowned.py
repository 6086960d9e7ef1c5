"""The notebook test's leak detector: a new object without a session label or a wb- name is reported."""

from __future__ import annotations

import pytest

import unowned
from helpers.containers import engine
from helpers.containers.base_images import ensure_image
from helpers.core.session import labels, resource_name

pytestmark = pytest.mark.docker


def test_an_unlabelled_unnamed_container_is_a_leak_and_an_owned_one_is_not():
    ensure_image("debian", quiet=True)
    client = engine.client()
    before = unowned.snapshot()
    stray = client.containers.create("debian", ["true"])                 # as `docker create debian true` would
    owned = client.containers.create("debian", ["true"], labels=labels())
    named = client.containers.create("debian", ["true"], name=resource_name("t-unowned"))
    try:
        leaks = unowned.new_unowned(before, unowned.snapshot())
        assert leaks == [f"container {stray.name}"]
    finally:
        for box in (stray, owned, named):
            box.remove(force=True)
    assert unowned.new_unowned(before, unowned.snapshot()) == []
