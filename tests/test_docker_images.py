"""docker_images against the real Docker engine."""

import os
import subprocess
import sys
import uuid

import docker.errors
import pytest

import helpers
from helpers.containers import engine, images as di, registry as dr, storage as ds
from helpers.core import leases, session
from helpers.core.errors import AlreadyInUse, NotFound, WorkbookError

R = session.resource_name  # every image and container of a test is named like a notebook's

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def test_build_labels_tags_and_cache():
    first = di.build(di.example("labels"), [R("labels:1.0"), R("labels:latest")], nocache=True)
    assert first.image.labels["version"] == "1.0"
    assert first.image.labels[session.SESSION_LABEL] == session.SESSION_ID
    assert set(first.image.tags) == {R("labels:1.0"), R("labels:latest")}
    again = di.build(di.example("labels"), R("labels:1.0"))
    assert all(again.cached) and again.id == first.id


def test_build_log_numbers_the_steps_as_the_dockerfile_does():
    # FROM + 3 LABEL lines: 4 steps, whatever labels the workbook adds (they go in a second build).
    built = di.build(di.example("labels"), R("steps"), nocache=True)
    steps = [line for line in built.log if line.startswith("Step ")]
    assert [s.split(" : ")[0] for s in steps] == ["Step 1/4", "Step 2/4", "Step 3/4", "Step 4/4"]
    assert not any("org.cloud-workbook" in s for s in steps)
    assert any("LABEL org.cloud-workbook.session" in line for line in built.label_log)
    assert built.image.labels[session.SESSION_LABEL] == session.SESSION_ID
    assert built.image.tags == [f"{R('steps')}:latest"]
    # The unlabelled first image is the labelled one's parent: removing the image takes it along.
    parent = engine.client().api.inspect_image(built.id)["Parent"]
    assert parent
    removed = engine.client().api.remove_image(R("steps"))
    assert {"Deleted": built.id} in removed
    with pytest.raises(docker.errors.ImageNotFound):
        engine.client().api.inspect_image(parent)


def test_build_errors_are_one_sentence(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM debian\nRUN exit 3\n")
    with pytest.raises(WorkbookError, match="step 2/2"):
        di.build(tmp_path, R("broken"))
    (tmp_path / "Dockerfile").write_text("FROM debian\nRUNN echo\n")
    with pytest.raises(WorkbookError, match="unknown instruction"):
        di.build(tmp_path, R("broken"))
    with pytest.raises(NotFound):
        di.build(tmp_path / "nowhere", R("broken"))


def test_context_size_with_and_without_dockerignore():
    ctx = di.cluttered_context(di.example("myphp"), junk_mb=2)
    small, big = di.context_size(ctx), di.context_size(ctx, use_dockerignore=False)
    assert small["bytes"] < 100_000 < 6_000_000 < big["bytes"]
    assert big["files"] - small["files"] == 3


def test_layers_view_of_a_committed_image():
    c = engine.run("debian", ["bash", "-c", "echo hi > /x.txt"], detach=True, quiet=True)
    c.wait()
    img = c.commit(repository=R("committed"), author="me@example.org", message="test")
    assert img.labels[session.SESSION_LABEL] == session.SESSION_ID  # the container's labels go along
    rows = di.layers(img)
    assert rows[0].size > 50_000_000 and rows[-1].size > 0
    fig = di.plot_layers(img)
    assert "log scale" in fig.axes[0].get_xlabel()


def test_build_result_from_a_cell_s_own_build_counts_the_dockerfile_s_steps():
    client = engine.client()
    image, log = client.images.build(path=str(di.example("labels")), tag=R("cell-build"), labels=session.labels())
    result = di.BuildResult.from_log(image, log, 1.5)
    assert len(result.steps) == 3 and not any(step.startswith("LABEL org.cloud-workbook") for step in result.steps)
    assert any("LABEL org.cloud-workbook.session" in line for line in result.log)  # the labels' own steps
    image, log = client.images.build(path=str(di.example("labels")), tag=R("cell-build"), labels=session.labels())
    again = di.BuildResult.from_log(image, [chunk.get("stream", "") for chunk in log], 0.5)
    assert all(again.cached) and "3 build steps after FROM, 3 from the cache" in again.summary()


def test_env_arg_and_add(tmp_path):
    built = di.build(di.example("env-arg"), R("env"), buildargs={"VERSION": "9"})
    out = engine.run(R("env"), ["sh", "-c", "cat /build-info.txt; echo ${VERSION:-unset}"], remove=True,
                     quiet=True).decode()
    assert "VERSION=9" in out and out.strip().endswith("unset")
    ctx = di.add_context()
    server = di.serve_file(ctx / "site.tar")
    try:
        di.build(ctx, R("add"), buildargs={"SOURCE_URL": server.file_url})
    finally:
        server.stop()
    assert b"index.php" in engine.run(R("add"), ["ls", "/unpacked/www", "/last_version"], remove=True, quiet=True)
    assert built.image.attrs["Config"]["Env"]


def _bindings(container):
    container.reload()
    return container.attrs["HostConfig"]["PortBindings"]["5000/tcp"]


def test_registry_roundtrip():
    import requests

    img = di.build(di.example("labels"), R("reg")).image
    reg = dr.start_registry(None)
    assert reg.container.name == R("registry")
    assert [b["HostIp"] for b in _bindings(reg.container)] == ["127.0.0.1"]  # never every interface
    assert reg.command == f"docker run -d -p 127.0.0.1:{reg.port}:5000 --name {R('registry')} registry:2"
    assert dr.start_registry(None).port == reg.port  # reused
    target = f"{reg.address}/{R('reg')}"  # localhost:PORT: Docker allows plain HTTP on 127.0.0.0/8
    img.tag(target, "latest")
    events = list(engine.client().images.push(target, tag="latest", stream=True, decode=True))
    assert not [e for e in events if "error" in e]
    assert R("reg") in requests.get(reg.url + "/v2/_catalog", timeout=5).json()["repositories"]
    engine.client().api.remove_image(target)
    assert engine.client().images.pull(target, tag="latest").id == img.id
    reg.remove()
    assert not dr._session_registries()


@pytest.fixture
def private_leases(tmp_path, monkeypatch):
    """A leases folder of the test's own: the lease on port 5000 is taken without touching the machine's."""
    monkeypatch.setenv("WORKBOOK_LEASES", str(tmp_path))
    for container in dr._session_registries():
        container.remove(force=True, v=True)
    return tmp_path


HOLDER = """
import sys
from helpers.core import leases
leases.acquire(sys.argv[1], what="the port", wait=10)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def port_5000_held_by_another_session(private_leases):
    """A second kernel (another live session) that holds the lease on host port 5000."""
    sid = uuid.uuid4().hex[:8]
    env = {**os.environ, "WORKBOOK_SESSION": sid, "WORKBOOK_NOTEBOOK": "12-docker-images.ipynb",
           "WORKBOOK_NO_ATEXIT_CLEANUP": "1"}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, leases.host_port(5000)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield sid
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_a_second_session_gets_a_free_port_and_is_told_who_holds_5000(port_5000_held_by_another_session, capsys):
    holder = port_5000_held_by_another_session
    reg = dr.start_registry(5000)
    try:
        said = capsys.readouterr().out
        assert reg.port != 5000
        assert f"Host port 5000 (the registry port the chapter uses) is held by session {holder} (12-docker-images" in said
        assert f"listens on the free port 127.0.0.1:{reg.port} instead" in said
        assert [(b["HostIp"], b["HostPort"]) for b in _bindings(reg.container)] == [("127.0.0.1", "")]
        assert reg.lease is None and leases.held(leases.host_port(5000)) is None
        import requests
        assert requests.get(reg.url + "/v2/_catalog", timeout=5).json()["repositories"] == []
    finally:
        reg.remove()
    with pytest.raises(AlreadyInUse, match=f"held by session {holder}"):
        dr.start_registry(5000, fallback_to_free_port=False)
    assert not dr._session_registries()


def test_the_registry_takes_port_5000_through_the_lease_and_gives_it_back(private_leases):
    reg = dr.start_registry(5000)
    try:
        if reg.port == 5000:  # unless a program outside the workbook holds 5000 on this machine
            assert reg.lease is not None and leases.held(leases.host_port(5000)) is reg.lease
            assert [leases.describe(h) for h in leases.holders(leases.host_port(5000))]
        assert [b["HostIp"] for b in _bindings(reg.container)] == ["127.0.0.1"]
    finally:
        reg.remove()
    assert leases.held(leases.host_port(5000)) is None and not leases.holders(leases.host_port(5000))


def test_registry_port_taken_is_explained(private_leases, capsys):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        with pytest.raises(AlreadyInUse, match="already taken"):
            dr.start_registry(port, name=R("reg2"), fallback_to_free_port=False)
        assert not leases.holders(leases.host_port(port))  # the lease went back with the failure
        reg = dr.start_registry(port, name=R("reg2"))
        assert reg.port != port and "holds no workbook lease" in capsys.readouterr().out
        reg.remove()
    finally:
        s.close()


def test_tasks_service_context_holds_only_the_module():
    ctx = di.tasks_service_context()
    tasks = ctx / "helpers" / "services"
    assert (tasks / "tasks.py").exists() or (tasks / "tasks" / "__init__.py").exists()
    # the service and what it imports, not the workbook: no other part of helpers/ is copied
    assert not any((ctx / "helpers" / part).exists() for part in ("containers", "orchestration", "virtualization"))
    assert {p.name for p in (ctx / "helpers").iterdir()} <= {"__init__.py", "core", "services"}


def test_instruction_order_builds_and_plot(tmp_path):
    order = di.instruction_order_builds(di.context_copy("cache-order"))
    assert {t for r in order.values() for t in r.tags} == {R("cache-order:copy-first"), R("cache-order:run-first")}
    assert list(order) == ["COPY first\ncold", "COPY first\nwww edited", "RUN first\ncold", "RUN first\nwww edited"]
    assert not any(order["COPY first\ncold"].cached) and not any(order["RUN first\ncold"].cached)
    # COPY first: the edit invalidates the slow RUN after it; RUN first: the slow step comes from the cache.
    assert order["COPY first\nwww edited"].cached == [False, False]
    assert order["RUN first\nwww edited"].cached == [True, False]
    assert order["RUN first\nwww edited"].seconds < order["COPY first\nwww edited"].seconds
    fig = di.plot_build_times(order, "order")
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(NotFound):
        di.instruction_order_builds(tmp_path)


def test_build_from_a_url_context():
    served = di.serve_file(di.context_tar(di.example("labels")))
    try:
        result = di.build(served.file_url, R("from-url"))
    finally:
        served.stop()
    assert result.image.labels["version"] == "1.0"
    assert result.image.labels[session.SESSION_LABEL] == session.SESSION_ID


def test_ids_are_shortened_like_the_cli():
    full = "0fd6fe14a3b8a051d489997269dc67a3d10fa305519ad33d320d1b66a8c412fb"
    assert di.short_ids(f"Deleted: sha256:{full}") == "Deleted: 0fd6fe14a3b8"
    assert di.short_ids(f"x@sha256:{full}") == "x@sha256:0fd6fe14a3b8…"
    assert di.short_ids(f"latest: digest: sha256:{full} size: 736") == "latest: digest: sha256:0fd6fe14a3b8… size: 736"


def test_layers_shorten_content_hashes():
    built = di.build(di.example("myphp"), R("hash"), dockerfile="Dockerfile.cache-friendly")
    copy = [layer for layer in di.layers(built.image) if layer.instruction.startswith("COPY")]
    assert copy and "…" in copy[0].instruction and len(copy[0].instruction) < 40
