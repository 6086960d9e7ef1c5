"""The Debian base for another architecture, without emulation: the debootstrap command and the
rewrite of an image's configuration (on a tiny docker-save archive made here, no engine)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from helpers.containers import base_images
from helpers.core.errors import WorkbookError


def test_debootstrap_gets_arch_only_for_a_foreign_architecture():
    host = base_images.host_arch()
    plain = ["debootstrap", "--variant=minbase", "bookworm", "/r", "http://m/debian"]
    assert base_images.debootstrap_argv("bookworm", "/r", "http://m/debian") == plain
    assert base_images.debootstrap_argv("bookworm", "/r", "http://m/debian", host) == plain
    other = "arm64" if host != "arm64" else "amd64"
    assert base_images.debootstrap_argv("bookworm", "/r", "http://m/debian", other) == [
        "debootstrap", "--arch", other, "--variant=minbase", "bookworm", "/r", "http://m/debian"]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_the_configuration_is_rewritten_and_renamed_by_its_digest(tmp_path):
    layer = b"not really a layer"
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["bash"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    old = hashlib.sha256(config).hexdigest() + ".json"
    saved, fixed = tmp_path / "saved.tar", tmp_path / "fixed.tar"
    with tarfile.open(saved, "w") as tar:
        _add(tar, old, config)
        _add(tar, "abc/layer.tar", layer)
        _add(tar, "manifest.json", json.dumps([{"Config": old, "RepoTags": ["t:arm64"],
                                                "Layers": ["abc/layer.tar"]}]).encode())
        _add(tar, "repositories", b'{"t": {"arm64": "abc"}}')
    base_images.rewrite_architecture(saved, fixed, "arm64", "v8")
    with tarfile.open(fixed) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        name = manifest[0]["Config"]
        data = tar.extractfile(name).read()
        assert name == hashlib.sha256(data).hexdigest() + ".json" != old
        new = json.loads(data)
        assert (new["architecture"], new["variant"], new["os"]) == ("arm64", "v8", "linux")
        assert new["config"] == {"Cmd": ["bash"]} and manifest[0]["RepoTags"] == ["t:arm64"]
        assert tar.extractfile("abc/layer.tar").read() == layer
        assert old not in tar.getnames() and "repositories" not in tar.getnames()


def test_only_debian_is_built_for_another_architecture():
    other = "arm64" if base_images.host_arch() != "arm64" else "amd64"
    with pytest.raises(WorkbookError, match="Only the debian base"):
        base_images.ensure_image("python", arch=other)


def test_the_command_line_names_its_arch_option(capsys):
    assert base_images._main(["ensure", "debian", "--arch"]) == 2
    assert "--arch ARCH" in capsys.readouterr().err
