"""In a notebook, the libraries' own errors read as one sentence, plus what the session still holds."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

import helpers
from helpers.containers import engine
from helpers.core import errors
from helpers.core.session import labels, resource_name
from notebook_runner import kernel_env, new_session_id

CASES = {
    "unknown container": ("import docker\ndocker.from_env().containers.get('wb-no-such-box')",
                          "NotFound", "Docker has no such object"),
    "name in use": ("import docker, helpers\nfrom helpers.core.session import labels, resource_name\n"
                    "cli = docker.from_env()\nname = resource_name('twin')\n"
                    "cli.containers.create('debian', 'true', name=name, labels=labels())\n"
                    "cli.containers.create('debian', 'true', name=name, labels=labels())",
                    "APIError", "That name is already taken"),
    "missing image": ("import docker\ndocker.from_env().containers.run('wb-no-such-image:1', 'true')",
                      "APIError", "The image is not here and no registry could give it"),
    # two containers on one loopback port: the engine itself refuses the second
    "port allocated": ("import docker\nfrom helpers.core.servers import free_port\n"
                       "from helpers.core.session import labels\ncli = docker.from_env()\nport = free_port()\n"
                       "for _ in range(2):\n"
                       "    cli.containers.run('debian', 'sleep 30', detach=True, labels=labels(),\n"
                       "                       ports={'80/tcp': ('127.0.0.1', port)})",
                       "APIError", "That host port is already in use"),
    "daemon down": ("import docker\ndocker.DockerClient(base_url='unix:///tmp/wb-no-daemon.sock').ping()",
                    "DockerException", "The Docker daemon does not answer"),
    "nothing listens": ("import requests\nrequests.get('http://127.0.0.1:9/', timeout=2)",
                        "ConnectionError", "Nothing answers at http://127.0.0.1:9/"),
    "failed shell command": ("!docker inspect wb-no-such-box > /dev/null",
                             "CalledProcessError", "failed with exit code 1: its own message is just above"),
    "failed bash cell": ("%%bash\necho starting\ndocker inspect wb-no-such-box > /dev/null",
                         "CalledProcessError", "The 2-line script failed with exit code 1"),
    "unknown domain": ("import libvirt\nlibvirt.open('test:///default').lookupByName('wb-no-such-domain')",
                       "libvirtError", "libvirt has no such domain"),
}


def _run_cells(tmp_path, cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for cell in nb.cells:
        cell.metadata["tags"] = ["raises-exception"]
    path = tmp_path / "99-errors.ipynb"
    nbformat.write(nb, path)
    client = NotebookClient(nb, timeout=120, kernel_name="python3")
    client.execute(env=kernel_env(path, new_session_id()))
    return nb


def _error(cell) -> dict:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert errors, f"no error output: {cell.outputs}"
    return errors[0]


@pytest.mark.skipif(not engine.available(), reason="needs the Docker daemon")
def test_library_errors_are_one_sentence_and_tell_what_is_still_held(tmp_path):
    from helpers.containers.base_images import ensure_image

    ensure_image("debian", quiet=True)
    names = list(CASES)
    nb = _run_cells(tmp_path, ["import helpers"] + [CASES[n][0] for n in names]
                    + ["import helpers\nhelpers.cleanup();"])
    for name, cell in zip(names, nb.cells[1:-1]):
        err = _error(cell)
        text = "\n".join(err["traceback"])
        assert err["ename"] == CASES[name][1], (name, err["ename"])
        assert CASES[name][2] in text, (name, text)
        assert "site-packages" not in text and "Traceback" not in text, (name, text)  # no library stack
        assert "run %tb in a new cell" in text
    # by the 'name in use' cell, the session held the first container: the sentence says so
    held = "\n".join(_error(nb.cells[1 + names.index("name in use")])["traceback"])
    assert "This notebook still holds 1 container" in held and "helpers.cleanup()" in held


def test_an_error_that_is_not_ours_keeps_its_traceback(tmp_path):
    nb = _run_cells(tmp_path, ["import helpers", "1 / 0"])
    err = _error(nb.cells[1])
    assert err["ename"] == "ZeroDivisionError" and "run %tb" not in "\n".join(err["traceback"])


def test_a_plugin_that_no_registry_gives_is_named_as_a_plugin():
    import docker

    from helpers.core import errors

    try:
        plugin = docker.from_env().plugins.install("vieux/sshfs")
    except docker.errors.APIError as exc:
        assert errors.explain(exc).startswith("The plugin could not be fetched")
    else:  # a registry answered: nothing to explain
        plugin.remove(force=True)
        pytest.skip("a registry answered here")


@pytest.mark.skipif(not engine.available(), reason="needs the Docker daemon")
def test_sdk_errors_become_workbook_errors_of_the_right_kind():
    """What a helper raises for an SDK error is the one explainer's sentence, as the subclass of its kind."""
    import docker

    from helpers.containers.base_images import ensure_image
    from helpers.core.servers import free_port

    ensure_image("debian", quiet=True)
    cli = engine.client()
    caught = {}

    def catch(what, fn):
        try:
            fn()
        except docker.errors.DockerException as exc:
            caught[what] = exc
        else:
            raise AssertionError(f"{what}: no error")

    try:
        port = free_port()
        box = cli.containers.run("debian", "sleep 30", detach=True, labels=labels(), name=resource_name("t-err"),
                                 ports={"80/tcp": ("127.0.0.1", port)})
        catch("port", lambda: cli.containers.run("debian", "sleep 30", detach=True, labels=labels(),
                                                 ports={"80/tcp": ("127.0.0.1", port)}))
        catch("name", lambda: cli.containers.create("debian", "true", name=box.name, labels=labels()))
        catch("missing", lambda: cli.containers.get(resource_name("t-no-such-box")))
        catch("image", lambda: cli.images.get("wb-no-such-image:1"))
        catch("down", lambda: docker.DockerClient(base_url="unix:///tmp/wb-no-daemon.sock").ping())
        box.pause()
        catch("paused twice", box.pause)
        catch("start paused", box.start)
        catch("remove running", box.remove)
        box.unpause()
        box.stop(timeout=0)
        catch("pause stopped", box.pause)
    finally:
        helpers.cleanup(quiet=True)
    kinds = {what: errors.as_workbook_error(exc) for what, exc in caught.items()}
    assert isinstance(kinds["port"], errors.AlreadyInUse) and "host port is already in use" in str(kinds["port"])
    assert isinstance(kinds["name"], errors.AlreadyInUse) and "name is already taken" in str(kinds["name"])
    assert isinstance(kinds["missing"], errors.NotFound) and "no such object" in str(kinds["missing"])
    assert isinstance(kinds["image"], errors.NotFound) and "image does not exist here" in str(kinds["image"])
    assert isinstance(kinds["down"], errors.DaemonUnavailable) and "does not answer" in str(kinds["down"])
    assert "already paused" in str(kinds["paused twice"]) and "unpause" in str(kinds["paused twice"])
    assert "instead of starting it" in str(kinds["start paused"])
    assert "still running" in str(kinds["remove running"]) and "force=True" in str(kinds["remove running"])
    assert "not running" in str(kinds["pause stopped"])
    for what, exc in caught.items():  # the notebook handler says the very same sentence
        assert errors.explain(exc) == str(kinds[what]), what
