"""Notebook 03 (§2.5.3, the service contract): the URI rules as code, schemathesis, and the exercise's check.

* :func:`uri_design_problems` -- the URI design rules of §2.5.3.1 as code.
* :func:`run_schemathesis` -- an independent contract test of a running service against its OpenAPI document.
* :func:`check_contract` -- the exercise: URIs (collection, item, filter, sub-collection), content
  negotiation (JSON, XML, 406).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import requests

from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict
from helpers.services.checking import TIMEOUT, Checker, Fail, describe, expect_status, run_check

#: The data of notebook 03's exercise: users and their accounts.
USERS = [
    {"id": 1, "name": "Pepe", "email": "pepe@example.org"},
    {"id": 2, "name": "Ana", "email": "ana@example.org"},
    {"id": 3, "name": "Pepe", "email": "pepe.garcia@example.org"},
]
ACCOUNTS = [
    {"id": 10, "user_id": 1, "iban": "ES91 2100 0418 4502 0005 1332", "balance": 120.5},
    {"id": 11, "user_id": 1, "iban": "ES79 2100 0813 6101 2345 6789", "balance": 8.0},
    {"id": 12, "user_id": 2, "iban": "ES66 0019 0020 9612 3456 7890", "balance": 930.25},
]


_VERBS = ("get", "create", "add", "update", "delete", "remove", "list", "find", "set", "do")


def uri_design_problems(path: str) -> list[str]:
    """The design rules of section 2.5.3.1 that a URI path breaks (``[]`` if none).

    Rules: a version segment (``v1``) first, or right after ``api``;
    lower case only; hyphens, not underscores, between words; nouns, not
    actions (``getTasks``, ``delete-task``).  The query, if any, is ignored.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise WorkbookError(f"{path!r} is not a URI path: give the part after the authority, such as '/api/v1/tasks'.")
    path = path.split("?", 1)[0]
    segments = [s for s in path.split("/") if s]
    problems = []
    version_at = 1 if segments[:1] == ["api"] else 0
    if len(segments) <= version_at or not re.fullmatch(r"v[0-9]+", segments[version_at]):
        problems.append("no version (v1, v2...) at the start")
    if path != path.lower():
        problems.append("upper-case letters")
    if "_" in path:
        problems.append("underscore instead of hyphen")
    if any(re.match(rf"({'|'.join(_VERBS)})([A-Z_-]|$)", s) for s in segments):
        problems.append("an action (verb) where a noun belongs")
    return problems


@dataclass
class ContractRun:
    """The outcome of one schemathesis run against a service's OpenAPI document."""

    version: str
    operations: int
    generated: int
    with_failures: int
    errors: int
    seconds: float
    exit_code: int
    last_line: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.with_failures == 0 and self.errors == 0

    def __str__(self) -> str:
        return (f"schemathesis {self.version}: {self.operations} operations tested, {self.generated} requests "
                f"generated, {self.with_failures} with failures, {self.errors} errors, in {self.seconds:.1f} s\n"
                f"exit code {self.exit_code} - {self.last_line}")

    __repr__ = __str__


def run_schemathesis(openapi_url: str, *, max_examples: int = 15, seed: int = 1, timeout: float = 150) -> ContractRun:
    """Run schemathesis (the ``st`` command of this environment) with every check against ``openapi_url``.

    The run is seeded and bounded by ``max_examples`` per operation, so it is
    repeatable; its JSON report is read back and its scratch folder removed.
    The tasks service's :data:`~helpers.services.tasks.SCHEMATHESIS_CONFIG`
    says how its conditional requests are judged.
    """
    from helpers.services.tasks import SCHEMATHESIS_CONFIG

    st = Path(sys.executable).with_name("st")
    if not st.exists():
        st = Path(shutil.which("st") or st)
    if not st.exists():
        raise WorkbookError("schemathesis is not installed in this environment: run `pip install schemathesis`.")
    requests.get(openapi_url, timeout=TIMEOUT).raise_for_status()  # no document: the error says why (helpers.explain)
    scratch = Path(tempfile.mkdtemp(prefix="schemathesis-"))
    try:
        report, config = scratch / "report.json", scratch / "schemathesis.toml"
        config.write_text(SCHEMATHESIS_CONFIG)
        run = subprocess.run([str(st), "--config-file", str(config), "run", openapi_url, "--checks", "all",
                              "--max-examples", str(max_examples), "--seed", str(seed),
                              "--generation-database", "none", "--no-color",
                              "--report", "json", "--report-json-path", str(report)],
                             capture_output=True, text=True, timeout=timeout, cwd=scratch)
        if not report.exists():
            raise WorkbookError(f"schemathesis stopped without a report (exit code {run.returncode}): "
                                f"{(run.stderr or run.stdout).strip()[-300:]}")
        summary = json.loads(report.read_text())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = run.stdout.strip().splitlines()
    return ContractRun(version=summary["schemathesis_version"], operations=summary["operations"]["tested"],
                       generated=summary["test_cases"]["generated"],
                       with_failures=summary["test_cases"]["with_failures"], errors=len(summary["errors"]),
                       seconds=summary["running_time"], exit_code=run.returncode,
                       last_line=lines[-1] if lines else "")


def check_contract(app_or_url) -> Verdict:
    """Notebook 03's exercise: the users service and its contract.

    Expected: ``GET /v1/users`` (all :data:`USERS`, JSON array), ``?name=``
    filter, ``GET /v1/users/<id>`` (JSON by default, XML with
    ``Accept: application/xml``, 406 for any other Accept, 404 for an
    unknown id) and the sub-collection ``GET /v1/users/<id>/accounts``
    (that user's :data:`ACCOUNTS`, 404 for an unknown user).  Returns a
    :class:`~helpers.core.verdict.Verdict`.
    """
    title = "Exercise: a users service and its contract"

    def cases(c: Checker) -> Verdict:

        def collection():
            body = c.json("GET", "/v1/users", 200, "add @app.get('/v1/users') returning the list of users",
                          "return the list (Flask turns a list or dict into JSON)")
            if not isinstance(body, list) or sorted(u.get("id") for u in body if isinstance(u, dict)) != [u["id"] for u in USERS]:
                raise Fail(f"expected the {len(USERS)} users of USERS, got {body!r:.150}",
                            hint="Return jsonify(USERS) when there is no ?name=.")

        def name_filter():
            body = c.json("GET", "/v1/users", 200, "the collection route should accept a ?name= query parameter",
                          "return the filtered list as JSON", params={"name": "Pepe"})
            ids = sorted(u.get("id") for u in body if isinstance(u, dict)) if isinstance(body, list) else body
            if ids != [1, 3]:
                raise Fail(f"?name=Pepe should keep users 1 and 3 only, got ids {ids}",
                            hint="Read request.args.get('name') and keep the users with that name.")
            r = c.request("GET", "/v1/users", params={"name": "Nobody"})
            if r.status_code != 200 or "json" not in r.headers.get("Content-Type", "") or r.json() != []:
                raise Fail(f"a filter that matches nobody should give 200 and [], got {describe(r)}",
                            hint="An empty result is still a collection: 200 with [].")

        def accounts():
            body = c.json("GET", "/v1/users/1/accounts", 200, "add the sub-collection route @app.get('/v1/users/<int:user_id>/accounts')",
                          "return the list of the user's accounts as JSON")
            ids = sorted(a.get("id") for a in body if isinstance(a, dict)) if isinstance(body, list) else body
            if ids != [10, 11]:
                raise Fail(f"user 1 owns accounts 10 and 11 only, got ids {ids}",
                            hint="Keep the accounts whose user_id matches.")

        def xml():
            r = c.expect("GET", "/v1/users/2", 200,
                         "answer XML when the client accepts application/xml", headers={"Accept": "application/xml"})
            if not r.headers.get("Content-Type", "").startswith("application/xml"):
                raise Fail(f"expected Content-Type application/xml, got {describe(r)}",
                            hint="When best_match(...) is 'application/xml', return Response(text, mimetype='application/xml').")
            try:
                root = ET.fromstring(r.content)
            except ET.ParseError as exc:
                raise Fail(f"the body is not well-formed XML ({exc}): {r.text[:80]!r}",
                            hint="Build the XML with ElementTree (ET.Element, ET.SubElement, ET.tostring).") from None
            if "Ana" not in "".join(root.itertext()):
                raise Fail(f"the XML should contain user 2's fields (name Ana), got {r.text[:120]!r}",
                            hint="Put each field of the user in an element of its own.")

        def not_acceptable():
            r = c.request("GET", "/v1/users/2", headers={"Accept": "image/png"})
            expect_status(r, 406, "when request.accept_mimetypes.best_match([...]) is None, abort(406)")

        c.case("GET /v1/users lists every user as a JSON array", collection, given=True)
        c.case("GET /v1/users?name=Pepe filters the collection with the query string", name_filter)
        c.case("GET /v1/users/2 returns one user as JSON",
               lambda: c.expect_equal("GET", "/v1/users/2", USERS[1],
                                      fix="add @app.get('/v1/users/<int:user_id>')", json_fix="without an Accept header (or with */*) answer JSON",
                                      hint="Find the user whose id is user_id and return it."), given=True)
        c.case("GET /v1/users/99 answers 404 Not Found",
               lambda: c.expect_404("/v1/users/99", after="/v1/users/2",
                                    fix="abort(404) when no user has that id"), given=True)
        c.case("GET /v1/users/1/accounts returns the sub-collection of user 1", accounts)
        c.case("GET /v1/users/99/accounts answers 404",
               lambda: c.expect_404("/v1/users/99/accounts", after="/v1/users/1/accounts",
                                    fix="an unknown user has no accounts collection at all: abort(404), not []"))
        c.case("GET /v1/users/2 with Accept: application/xml returns XML", xml)
        c.case("GET /v1/users/2 with Accept: image/png answers 406 Not Acceptable", not_acceptable)
        return c.result()

    return run_check(title, app_or_url, "check_contract(users_app)", "check-contract", cases)


