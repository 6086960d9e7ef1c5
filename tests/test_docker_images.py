"""docker_images against the real Docker engine."""

import pytest

import helpers
from helpers import docker_engine, docker_images as di, docker_storage as ds, session
from helpers.errors import AlreadyInUse, NotFound, WorkbookError

pytestmark = pytest.mark.skipif(not docker_engine.available(), reason="no Docker daemon")


@pytest.fixture(scope="module", autouse=True)
def _clean():
    yield
    helpers.cleanup(quiet=True)
    ds.remove_workdir()


def test_engine_storage_and_pull_error():
    info = di.engine_storage()
    assert info["Storage Driver"]
    ok, message = di.try_pull("debian", timeout=30)
    assert isinstance(ok, bool) and message


def test_build_labels_tags_and_cache():
    first = di.build(di.example("labels"), ["wbtest/labels:1.0", "wbtest/labels:latest"], nocache=True)
    assert first.image.labels["version"] == "1.0"
    assert first.image.labels[session.SESSION_LABEL] == session.SESSION_ID
    assert {r["tag"] for r in di.image_rows(["wbtest/labels"])} == {"1.0", "latest"}
    again = di.build(di.example("labels"), "wbtest/labels:1.0")
    assert all(again.cached) and again.id == first.id


def test_build_errors_are_one_sentence(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM debian\nRUN exit 3\n")
    with pytest.raises(WorkbookError, match="step 2"):
        di.build(tmp_path, "wbtest/broken")
    (tmp_path / "Dockerfile").write_text("FROM debian\nRUNN echo\n")
    with pytest.raises(WorkbookError, match="unknown instruction"):
        di.build(tmp_path, "wbtest/broken")
    with pytest.raises(NotFound):
        di.build(tmp_path / "nowhere", "wbtest/broken")


def test_context_size_with_and_without_dockerignore():
    ctx = di.cluttered_context(di.example("myphp"), junk_mb=2)
    small, big = di.context_size(ctx), di.context_size(ctx, use_dockerignore=False)
    assert small["bytes"] < 100_000 < 6_000_000 < big["bytes"]
    assert big["files"] - small["files"] == 3


def test_layers_view_commit_and_diff():
    c = docker_engine.run("debian", ["bash", "-c", "echo hi > /x.txt"], detach=True, quiet=True)
    c.wait()
    assert di.diff_rows(c) == ["A /x.txt"]
    img = di.commit(c, "wbtest/committed", author="me@example.org", message="test")
    assert img.attrs["Author"] == "me@example.org" and img.attrs["Comment"] == "test"
    assert img.labels[session.SESSION_LABEL] == session.SESSION_ID
    rows = di.layers(img)
    assert rows[0].size > 50_000_000 and rows[-1].size > 0
    fig = di.plot_layers(img)
    assert "log scale" in fig.axes[0].get_xlabel()
    sizes = di.container_size_rows()
    assert any(r["name"] == c.name for r in sizes)


def test_env_arg_and_add(tmp_path):
    built = di.build(di.example("env-arg"), "wbtest/env", buildargs={"VERSION": "9"})
    out = ds.sh("cat /build-info.txt; echo ${VERSION:-unset}", image="wbtest/env")
    assert "VERSION=9" in out and out.strip().endswith("unset")
    ctx = di.add_context()
    server = di.serve_file(ctx / "site.tar")
    try:
        di.build(ctx, "wbtest/add", buildargs={"SOURCE_URL": server.file_url})
    finally:
        server.stop()
    assert "index.php" in ds.sh("ls /unpacked/www /last_version", image="wbtest/add")
    assert built.image.attrs["Config"]["Env"]


def test_save_load_and_registry_roundtrip():
    img = di.build(di.example("labels"), "wbtest/reg").image
    saved = di.save("wbtest/reg", ds.workdir("t") / "reg.tar")
    assert saved["bytes"] > 1_000_000
    assert "wbtest/reg:latest" in di.load(saved["file"])
    reg = di.start_registry(None)
    assert di.start_registry(None).port == reg.port  # reused
    target = f"{reg.address}/wbtest-reg"
    di.tag("wbtest/reg", target)
    assert any("digest" in line for line in di.push(target))
    assert "wbtest-reg" in di.catalog(reg)
    di.remove_image(target)
    assert any("Status" in line for line in di.pull(target))
    assert docker_engine.client().images.get(target).id == img.id
    with pytest.raises(NotFound):
        di.remove_image("wbtest/none-such")


def test_registry_port_taken_is_explained():
    import socket
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        with pytest.raises(AlreadyInUse, match="already taken"):
            di.start_registry(port, name=session.resource_name("reg2"), fallback_to_free_port=False)
    finally:
        s.close()


def test_tasks_service_context_holds_only_the_module():
    ctx = di.tasks_service_context()
    assert (ctx / "helpers" / "tasks_service.py").exists()
    assert di.context_size(ctx)["files"] <= 5


def test_instruction_order_builds_and_plot(tmp_path):
    order = di.instruction_order_builds(di.context_copy("cache-order"), tag="wbtest/order")
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
        result = di.build(served.file_url, "wbtest/from-url")
    finally:
        served.stop()
    assert result.image.labels["version"] == "1.0"
    assert result.image.labels[session.SESSION_LABEL] == session.SESSION_ID
