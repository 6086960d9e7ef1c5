"""Images by the chapter's names, with no registry: local, else pulled, else built here."""

from __future__ import annotations

import time

import pytest

from helpers.containers import engine, base_images
from helpers.core import session
from helpers.core.errors import WorkbookError

pytestmark = pytest.mark.docker


def test_split_ref():
    assert base_images.split_ref("debian") == ("debian", "latest")
    assert base_images.split_ref("registry:2") == ("registry", "2")
    assert base_images.split_ref("localhost:5000/mydebian") == ("localhost:5000/mydebian", "latest")
    assert base_images.split_ref("localhost:5000/mydebian:v1") == ("localhost:5000/mydebian", "v1")


def test_the_base_images_exist_and_a_warm_ensure_takes_under_a_second():
    for name in base_images.BASE_IMAGES if hasattr(base_images, "BASE_IMAGES") else ("debian", "python"):
        base_images.ensure_image(name, quiet=True)
        started = time.monotonic()
        image = base_images.ensure_image(name, quiet=True)
        assert time.monotonic() - started < 1.0
        assert f"{name}:latest" in image.tags
        assert image.labels.get(session.BASE_IMAGE_LABEL) == "1" or not image.labels.get(session.WORKBOOK_LABEL)


def test_the_local_python_image_has_flask():
    out = engine.run("python", ["python", "-c", "import flask; print('flask ok')"], remove=True, quiet=True)
    assert out.strip() == b"flask ok"


def test_every_recipe_names_its_parent():
    for name in base_images.recipes():
        if name != "debian":
            assert base_images._parents(base_images.RECIPES_DIR / name), f"{name} has no FROM"


def test_an_unknown_image_is_one_sentence():
    with pytest.raises(WorkbookError, match="no registry could provide it, and the workbook has no recipe"):
        base_images.ensure_image("no-such-image-for-the-workbook", quiet=True)


def test_the_apt_mirror_is_read_from_this_machine():
    mirror, suite = base_images.apt_mirror()
    assert mirror.startswith(("http://", "https://", "file:/")) and suite


def test_engine_errors_become_one_sentence_of_the_right_kind():
    import docker.errors

    from helpers.core.errors import AlreadyInUse, as_workbook_error

    def api_error(text):
        return docker.errors.APIError("409 Client Error", explanation=text)

    name = as_workbook_error(api_error('Conflict. The container name "/web" is already in use by container "abc"'))
    assert isinstance(name, AlreadyInUse) and "name is already taken" in str(name)
    port = as_workbook_error(api_error("driver failed programming external connectivity: "
                                       "Bind for 127.0.0.1:8080 failed: port is already allocated"))
    assert isinstance(port, AlreadyInUse) and "host port is already in use" in str(port)
    paused = as_workbook_error(api_error("Container abc is paused, unpause the container before stopping"))
    assert type(paused).__name__ == "WorkbookError" and "is paused" in str(paused) and "name" not in str(paused)


def test_run_with_remove_leaves_no_anonymous_volume():
    cli = engine.client()
    name = session.resource_name("rm-anon")
    since = time.time() - 1
    out = engine.run("debian", ["sh", "-c", "echo hi"], remove=True, quiet=True, volumes=["/scratch"],
                            name=name)
    assert out == b"hi\n"
    # The volumes this container mounted, from the engine's events (other notebooks on this machine
    # create and remove volumes at the same time: comparing listings would see theirs).
    events = list(cli.events(since=since, until=time.time() + 1, decode=True,
                             filters={"type": ["container", "volume"]}))
    ids = {e["Actor"]["ID"] for e in events if e["Type"] == "container" and e["Actor"]["Attributes"].get("name") == name}
    mounted = {e["Actor"]["ID"] for e in events if e["Type"] == "volume" and e.get("Action") == "mount"
               and e["Actor"]["Attributes"].get("container") in ids}
    assert ids and mounted, events
    assert not [v for v in mounted if cli.volumes.list(filters={"name": v})]
    with pytest.raises(WorkbookError, match="failed with exit code 3: oops"):
        engine.run("debian", ["sh", "-c", "echo oops >&2; exit 3"], remove=True, quiet=True)
