"""The tasks service against its own contract, checked by an independent tool.

Schemathesis reads the OpenAPI document the running service serves at
``/openapi.json``, generates valid and invalid requests from it (coverage,
property-based fuzzing and stateful sequences that follow the links
POST -> GET/DELETE), sends them over real HTTP and runs every check it has:
no 5xx, status codes / content types / headers / bodies as documented,
invalid data rejected, valid data accepted, 405 for undocumented methods,
deleted resources gone...  The run is bounded (``--max-examples``) and
seeded so that it is fast and repeatable.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.core import servers
from helpers.services.tasks import SCHEMATHESIS_CONFIG, create_app  # the config: 412 is expected (why: see there)

ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 40


@pytest.mark.skipif(not ST.exists() and not shutil.which("st"), reason="schemathesis is not installed")
@pytest.mark.timeout(120)
def test_tasks_service_conforms_to_its_openapi_document(tmp_path):
    st = str(ST) if ST.exists() else shutil.which("st")
    report = tmp_path / "schemathesis.json"
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    with servers.serve(create_app(tmp_path / "tasks.db"), name="schemathesis-target") as server:
        run = subprocess.run(
            [st, "--config-file", str(config), "run", f"{server.url}/openapi.json", "--checks", "all",
             "--max-examples", str(MAX_EXAMPLES), "--seed", "20260301", "--generation-database", "none",
             "--no-color", "--workers", "2",
             "--report", "json", "--report-json-path", str(report)],
            capture_output=True, text=True, timeout=110, cwd=tmp_path)
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    print(f"schemathesis {summary['schemathesis_version']}: {summary['operations']['tested']} operations, "
          f"{cases['generated']} test cases, {cases['with_failures']} with failures, "
          f"{len(summary['errors'])} errors, {summary['running_time']:.1f} s; phases "
          + ", ".join(f"{k}={v['status']}" for k, v in summary["phases"].items()))
    assert run.returncode == 0 and not summary["failures"] and not summary["errors"], run.stdout[-4000:]
    assert summary["operations"]["tested"] == summary["operations"]["total"] == 7
    assert cases["generated"] >= 300 and cases["with_failures"] == 0
    assert all(summary["phases"][p]["status"] == "success" for p in ("coverage", "fuzzing", "stateful"))
