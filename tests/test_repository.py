"""The repository keeps its promises: clean notebooks, agreeing dependency lists, one test command."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"docker-py": "docker", "pyyaml": "pyyaml"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; run `make strip`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_kernelspec_and_names_its_section(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", \
        "without a kernelspec JupyterLab stops at 'Select Kernel'"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    if not path.name.startswith(("00-", "15-")):
        assert "§" in first.source, "the first cell names the chapter section it covers"


def test_notebooks_are_numbered_in_reading_order():
    names = [p.name for p in NOTEBOOKS]
    assert all(re.match(r"^\d\d-[a-z0-9-]+\.ipynb$", n) for n in names), names
    numbers = [int(n[:2]) for n in names]
    assert numbers == sorted(set(numbers)), "one notebook per number"


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]}
    wanted |= {_name(d) for d in project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            have |= {_name(d) for d in dep.get("pip", [])}
        else:
            name = _name(dep)
            have.add(CONDA_TO_PYPI.get(name, name))
    have.discard("python"), have.discard("pip")
    assert wanted == have, f"only in pyproject: {wanted - have}; only in environment.yml: {have - wanted}"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(make \w+)\s*$", readme, re.M)
    assert "make lab" in commands and "make test" in commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", ci, re.M)


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [p.stem for p in NOTEBOOKS if p.stem not in readme]
    assert not missing, f"README does not list {missing}"


def test_no_apt_mirror_host_is_written_in_the_repository():
    hosts = set()
    for src in [*Path("/etc/apt/sources.list.d").glob("*.sources"), *Path("/etc/apt").glob("sources.list")]:
        hosts |= set(re.findall(r"https?://([^/\s]+)", src.read_text()))
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        path = ROOT / rel
        if path.is_file():
            text = path.read_text(errors="ignore")
            for host in hosts:
                assert host not in text, f"{rel} names the apt mirror {host}"
