"""What the tests of the portable image share: the docker CLI, and a log of measured numbers."""

from __future__ import annotations

import subprocess
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """``docker ARGS…``, its output captured as text."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def record(log: str, line: str) -> None:
    """Append a measured line to ``artifacts/<log>`` and print it."""
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / log).open("a") as fh:
        fh.write(line + "\n")
    print(line)
