"""The locked Python environment (requirements.lock): complete, hashed, and the one installed."""
import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def pins():
    """(name, version, marker or None, hashes) for each pin of the lock."""
    out, current = [], None
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if m:
            current = [canonicalize_name(m[1]), m[2], Marker(m[3]) if m[3] else None, []]
            out.append(current)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            current[3].append(line.strip().split(":", 1)[1].rstrip(" \\"))
    return out


def test_every_pin_has_a_hash_and_one_version_per_environment():
    found = pins()
    assert len(found) > 100
    assert all(hashes for _, _, _, hashes in found), [n for n, _, _, h in found if not h]
    here = [(n, v) for n, v, marker, _ in found if marker is None or marker.evaluate()]
    names = [n for n, _ in here]
    assert len(names) == len(set(names)), "two pins of one package apply to this Python"


def test_every_dependency_of_pyproject_is_locked():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    locked = {n for n, *_ in pins()}
    missing = [r for r in wanted if canonicalize_name(Requirement(r).name) not in locked]
    assert not missing, f"pyproject.toml names {missing}, the lock does not: run make lock"
    # Each pin lies in pyproject's range (the lock was made from this pyproject, not an older one).
    for r in map(Requirement, wanted):
        for n, v, marker, _ in pins():
            if n == canonicalize_name(r.name) and (marker is None or marker.evaluate()):
                assert r.specifier.contains(v, prereleases=True), f"{n}=={v} is outside {r}"


@pytest.mark.skipif(os.environ.get("WORKBOOK_UNLOCKED") == "1", reason="make test-latest: unlocked on purpose")
def test_the_environment_running_the_tests_is_the_locked_one():
    wrong = []
    for n, v, marker, _ in pins():
        if marker is not None and not marker.evaluate():
            continue
        try:
            have = metadata.version(n)
        except metadata.PackageNotFoundError:
            wrong.append(f"{n} (not installed)")
            continue
        if canonicalize_name(have) != canonicalize_name(v) and have != v:
            wrong.append(f"{n} {have}, locked {v}")
    assert not wrong, f"installed ≠ requirements.lock: {wrong}; run make setup"


def test_set_up_and_image_install_from_the_lock():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "--require-hashes -r requirements.lock" in setup
    assert "src/requirements.lock" in (ROOT / "image" / "Dockerfile").read_text()
    assert "org.cloud-workbook.lock-sha256" in (ROOT / "scripts" / "image.sh").read_text()


def test_the_unlocked_install_names_every_extra():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = re.search(r'-e "\.\[([^\]]+)\]"', (ROOT / "scripts" / "setup.sh").read_text())[1].split(",")
    assert sorted(named) == sorted(extras)
