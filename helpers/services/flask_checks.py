"""Automatic checks for the exercises of notebooks 03, 04 and 05.

Each ``check_...(app)`` serves the student's Flask app (any WSGI app) on
127.0.0.1 with :func:`helpers.core.servers.serve`, or uses the base URL of a
server that is already running, drives it with real HTTP requests and
returns a :class:`~helpers.core.verdict.Verdict`: case by case, what passes and,
for what does not, what was expected, what came back and a hint on what to
change.  When the app raises, each case names the exception and the verdict
notes the first one once, with the lines of the app's code it went through
(instead of one traceback per request).  A check never raises because the
app is wrong, nor when it is given something that is not an app (a view
function, a step, a URL where nothing answers): the verdict says so.

* :func:`check_contract` -- notebook 03: URIs (collection, item, filter,
  sub-collection), content negotiation (JSON, XML, 406).
* :func:`check_flask_basics` -- notebook 04: routes, converters, methods,
  responses, cookies, error handlers and hooks.
* :func:`check_tasks_api` -- notebook 05: a RESTful tasks collection
  (filters, 201 + Location, PUT, 204, 400/404/405/415 in JSON, no 500).

Two tools for notebook 03 live here as well: :func:`uri_design_problems`
(the URI design rules of section 2.5.3.1 as code) and
:func:`run_schemathesis` (an independent contract test of a running
service against its OpenAPI document).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import requests

from helpers.core import servers
from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict

TIMEOUT = 5

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


# --------------------------------------------------------------------------- checking

class _Checker:
    """Runs cases against one base URL, into a :class:`~helpers.core.verdict.Verdict`; a case raises _Fail."""

    def __init__(self, title: str, base: str, crashes: "_CrashLog | None" = None):
        self.verdict = Verdict(title)
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.crashes = crashes
        self.first_crash = ""

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        seen = len(self.crashes.records) if self.crashes else 0
        r = self.http.request(method, self.base + path, **kw)
        # Flask logs the exception before it sends the 500, so the record is there.
        if self.crashes and r.status_code >= 500 and len(self.crashes.records) > seen:
            record = self.crashes.records[seen]
            r.app_error = _exception_summary(record.exc_info)
            if not self.first_crash:
                self.first_crash = _traceback_line(record.exc_info)
        return r

    def case(self, name: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except _Fail as exc:
            return self.verdict.fail(f"{name} — {exc.what}", hint=exc.hint)
        except requests.Timeout:
            return self.verdict.fail(f"{name} — no answer within {TIMEOUT} s",
                                     hint="Does the route block or loop? A view must return a response.")
        except requests.ConnectionError:
            return self.verdict.fail(f"{name} — the connection failed or was closed",
                                     hint="Did the server stop? Run the check again.")
        return self.verdict.ok(name)

    def result(self) -> Verdict:
        if self.first_crash:
            self.verdict.note(f"The first exception your app raised: {self.first_crash}")
        return self.verdict


class _Fail(Exception):
    """A case that does not hold: ``what`` was seen, ``hint`` says what to change (None: nothing to add)."""

    def __init__(self, what: str, hint: str | None = None):
        super().__init__(what)
        if hint:    # a hint is a sentence of its own
            hint = hint[:1].upper() + hint[1:] + ("" if hint.endswith((".", "?", "!", ")")) else ".")
        self.what, self.hint = what, hint


def _describe(r: requests.Response) -> str:
    body = r.text.strip().replace("\n", " ")
    return f"{r.status_code} {r.headers.get('Content-Type', 'no Content-Type')}" + (f" {body[:120]!r}" if body else " (empty body)")


def _expect_status(r: requests.Response, expected: int | tuple[int, ...], fix: str) -> None:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if r.status_code in allowed:
        return
    wanted = " or ".join(map(str, allowed))
    if r.status_code == 500 and getattr(r, "app_error", None):
        # The 500 page says nothing useful; the exception does.
        raise _Fail(f"expected {wanted}, got 500 because the app raised {r.app_error}",
                    hint=None if fix.startswith("add ") else fix)
    hint = fix
    if r.status_code == 500:
        # The exception may come from the view, a hook or an error handler: the traceback names it.  A
        # 500 means code ran, so a fix that says "add a route" would mislead (a crashing hook fails
        # every case); other fixes help.
        hint = ("The app raised an exception (500): read the server's traceback (in its log); it names the view, "
                "hook or error handler that failed." + ("" if fix.startswith("add ") else f" Then: {fix}"))
    elif r.status_code == 501 and 501 not in allowed:
        hint = "The route still answers 501 Not Implemented (the stub's abort(501)): write the real code. " + fix
    elif r.status_code == 405 and 405 not in allowed:
        hint = f"No route accepts {r.request.method} on this URL (405): " + fix
    elif r.status_code == 400 and 400 not in allowed and fix.startswith("add "):
        hint = ("The route exists but answered 400 Bad Request: it reads something this request does not carry, "
                "such as request.args['x'] without ?x= (request.args.get('x') gives None instead).")
    raise _Fail(f"expected {wanted}, got {_describe(r)}", hint=hint)


def _expect_json(r: requests.Response, fix: str):
    if "json" not in r.headers.get("Content-Type", ""):
        raise _Fail(f"expected a JSON body (Content-Type application/json), got {_describe(r)}", hint=fix)
    try:
        return r.json()
    except ValueError:
        raise _Fail(f"the body is labelled JSON but does not parse: {r.text[:80]!r}", hint=fix) from None


def _expect_json_error(r: requests.Response, status: int, fix: str) -> None:
    _expect_status(r, status, fix)
    body = _expect_json(r, f"answer {status} errors with a JSON object, e.g. from an @app.errorhandler({status}) "
                            "or abort() plus a JSON error handler")
    if not isinstance(body, dict):
        raise _Fail(f"the {status} error body should be a JSON object describing the error, got {body!r}")


class _CrashLog(logging.Handler):
    """Keeps the exceptions a Flask app logs while it is being checked."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@contextlib.contextmanager
def _crash_log(app) -> Iterator["_CrashLog | None"]:
    """While checking a Flask app, collect its exceptions instead of printing one traceback per request.

    A single bug (say, in an after_request hook) fails every request; the
    report names the exception in each case and shows the first traceback once.
    """
    logger = getattr(app, "logger", None)
    if not isinstance(logger, logging.Logger):
        yield None
        return
    from flask.logging import default_handler
    had_default = default_handler in logger.handlers
    log = _CrashLog()
    logger.addHandler(log)
    if had_default:
        logger.removeHandler(default_handler)
    propagate, logger.propagate = logger.propagate, False     # nor through the root logger's handlers
    try:
        yield log
    finally:
        logger.removeHandler(log)
        logger.propagate = propagate
        if had_default:
            logger.addHandler(default_handler)


def _student_frames(tb) -> list:
    return [f for f in traceback.extract_tb(tb) if "site-packages" not in f.filename and "/helpers/" not in f.filename]


def _exception_summary(exc_info) -> str:
    """'AttributeError: start (in stop_clock(), line 5)': the exception and the innermost frame of the app's code."""
    exc_type, exc, tb = exc_info
    frames = _student_frames(tb)
    where = f" (in {frames[-1].name}(), line {frames[-1].lineno})" if frames else ""
    return f"{exc_type.__name__}: {str(exc).rstrip('.')}{where}"


def _traceback_line(exc_info) -> str:
    """The exception and the frames of the app's own code, in one line: what the server's traceback says."""
    exc_type, exc, tb = exc_info
    frames = " → ".join(f"{f.name}() line {f.lineno}: {(f.line or '').strip()}" for f in _student_frames(tb)[-3:])
    return f"{exc_type.__name__}: {str(exc).rstrip('.')}" + (f", raised in {frames}" if frames else "")


def _unusable(app_or_url, example: str) -> tuple[str, str] | None:
    """Why ``app_or_url`` cannot be checked (a sentence and a hint), or None when it can.

    ``example`` is the call to write instead, e.g. ``check_tasks_api(build(*steps, put_step))``.
    """
    if isinstance(app_or_url, str):
        parts = urlsplit(app_or_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return (f"{app_or_url!r} is not a base URL such as 'http://127.0.0.1:5000'.",
                    f"Pass the Flask app itself: {example}.")
        try:
            requests.get(app_or_url, timeout=TIMEOUT)
        except requests.RequestException:
            return (f"Nothing answers at {app_or_url}.",
                    f"Start the server first (helpers.core.servers.serve(app)), or pass the Flask app itself: {example}.")
        return None
    if not callable(app_or_url):
        return (f"The check needs your Flask app (or its base URL), not {type(app_or_url).__name__} {app_or_url!r:.40}.",
                f"Pass the app: {example}.")
    if inspect.isfunction(app_or_url) or inspect.ismethod(app_or_url):
        try:   # a WSGI app takes (environ, start_response); a view function or a step does not
            inspect.signature(app_or_url).bind(None, None)
        except TypeError:
            name = app_or_url.__name__
            params = list(inspect.signature(app_or_url).parameters)
            if params == ["app"]:
                return (f"{name}() is a function that adds routes to an app, not the app itself.",
                        f"Build the app with it and pass that: {example}.")
            return (f"{name}() looks like a view function (one route), not the Flask app.",
                    f"Pass the app itself, the object made by Flask(...): {example}.")
    return None


@contextlib.contextmanager
def _target(app_or_url, name: str) -> Iterator[str]:
    """A base URL for ``app_or_url`` (checked with :func:`_unusable` first): serve an app for the check, or use a URL."""
    if isinstance(app_or_url, str):
        yield app_or_url.rstrip("/")
        return
    with servers.serve(app_or_url, name=name) as server:
        yield server.url


# --------------------------------------------------------------------------- notebook 03

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
    try:
        requests.get(openapi_url, timeout=TIMEOUT).raise_for_status()
    except requests.RequestException as exc:
        raise WorkbookError(f"No OpenAPI document at {openapi_url} ({type(exc).__name__}): "
                            "start the service first and give the URL of its /openapi.json.") from None
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


def _start(title: str, app_or_url, example: str) -> Verdict | None:
    """A failed verdict when ``app_or_url`` cannot be checked (None when it can)."""
    v = Verdict(title)
    if app_or_url is None:
        return v.not_attempted("There is no app yet (the check was given None).",
                               hint=f"Build your Flask app in the cell above, then run {example}.")
    problem = _unusable(app_or_url, example)
    if problem:
        v.fail(problem[0], hint=problem[1])
        return v
    return None


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
    refused = _start(title, app_or_url, "check_contract(users_app)")
    if refused is not None:
        return refused
    with _target(app_or_url, "check-contract") as base, _crash_log(app_or_url) as crashes:
        c = _Checker(title, base, crashes)

        def collection():
            r = c.request("GET", "/v1/users")
            _expect_status(r, 200, "add @app.get('/v1/users') returning the list of users")
            body = _expect_json(r, "return the list (Flask turns a list or dict into JSON)")
            if not isinstance(body, list) or sorted(u.get("id") for u in body if isinstance(u, dict)) != [u["id"] for u in USERS]:
                raise _Fail(f"expected the {len(USERS)} users of USERS, got {body!r:.150}",
                            hint="Return jsonify(USERS) when there is no ?name=.")

        def name_filter():
            r = c.request("GET", "/v1/users", params={"name": "Pepe"})
            _expect_status(r, 200, "the collection route should accept a ?name= query parameter")
            body = _expect_json(r, "return the filtered list as JSON")
            ids = sorted(u.get("id") for u in body if isinstance(u, dict)) if isinstance(body, list) else body
            if ids != [1, 3]:
                raise _Fail(f"?name=Pepe should keep users 1 and 3 only, got ids {ids}",
                            hint="Read request.args.get('name') and keep the users with that name.")
            r = c.request("GET", "/v1/users", params={"name": "Nobody"})
            if r.status_code != 200 or "json" not in r.headers.get("Content-Type", "") or r.json() != []:
                raise _Fail(f"a filter that matches nobody should give 200 and [], got {_describe(r)}",
                            hint="An empty result is still a collection: 200 with [].")

        def item():
            r = c.request("GET", "/v1/users/2")
            _expect_status(r, 200, "add @app.get('/v1/users/<int:user_id>')")
            body = _expect_json(r, "without an Accept header (or with */*) answer JSON")
            if body != USERS[1]:
                raise _Fail(f"/v1/users/2 should be {USERS[1]}, got {body!r:.150}",
                            hint="Find the user whose id is user_id and return it.")

        def missing():
            if c.request("GET", "/v1/users/2").status_code != 200:
                raise _Fail("skipped: GET /v1/users/2 must work first (a 404 from a missing route proves nothing)")
            r = c.request("GET", "/v1/users/99")
            _expect_status(r, 404, "abort(404) when no user has that id")

        def accounts():
            r = c.request("GET", "/v1/users/1/accounts")
            _expect_status(r, 200, "add the sub-collection route @app.get('/v1/users/<int:user_id>/accounts')")
            body = _expect_json(r, "return the list of the user's accounts as JSON")
            ids = sorted(a.get("id") for a in body if isinstance(a, dict)) if isinstance(body, list) else body
            if ids != [10, 11]:
                raise _Fail(f"user 1 owns accounts 10 and 11 only, got ids {ids}",
                            hint="Keep the accounts whose user_id matches.")

        def accounts_missing():
            if c.request("GET", "/v1/users/1/accounts").status_code != 200:
                raise _Fail("skipped: GET /v1/users/1/accounts must work first")
            r = c.request("GET", "/v1/users/99/accounts")
            _expect_status(r, 404, "an unknown user has no accounts collection at all: abort(404), not []")

        def xml():
            r = c.request("GET", "/v1/users/2", headers={"Accept": "application/xml"})
            _expect_status(r, 200, "answer XML when the client accepts application/xml")
            if not r.headers.get("Content-Type", "").startswith("application/xml"):
                raise _Fail(f"expected Content-Type application/xml, got {_describe(r)}",
                            hint="When best_match(...) is 'application/xml', return Response(text, mimetype='application/xml').")
            try:
                root = ET.fromstring(r.content)
            except ET.ParseError as exc:
                raise _Fail(f"the body is not well-formed XML ({exc}): {r.text[:80]!r}",
                            hint="Build the XML with ElementTree (ET.Element, ET.SubElement, ET.tostring).") from None
            if "Ana" not in "".join(root.itertext()):
                raise _Fail(f"the XML should contain user 2's fields (name Ana), got {r.text[:120]!r}",
                            hint="Put each field of the user in an element of its own.")

        def not_acceptable():
            r = c.request("GET", "/v1/users/2", headers={"Accept": "image/png"})
            _expect_status(r, 406, "when request.accept_mimetypes.best_match([...]) is None, abort(406)")

        c.case("GET /v1/users lists every user as a JSON array", collection)
        c.case("GET /v1/users?name=Pepe filters the collection with the query string", name_filter)
        c.case("GET /v1/users/2 returns one user as JSON", item)
        c.case("GET /v1/users/99 answers 404 Not Found", missing)
        c.case("GET /v1/users/1/accounts returns the sub-collection of user 1", accounts)
        c.case("GET /v1/users/99/accounts answers 404", accounts_missing)
        c.case("GET /v1/users/2 with Accept: application/xml returns XML", xml)
        c.case("GET /v1/users/2 with Accept: image/png answers 406 Not Acceptable", not_acceptable)
        return c.result()


# --------------------------------------------------------------------------- notebook 04

def check_flask_basics(app_or_url) -> Verdict:
    """Notebook 04's exercise: routes, converters, methods, responses, errors and hooks.

    Expected: ``GET /hello/<name>`` -> HTML containing ``Hello, <name>!``;
    ``GET /square/<int:n>`` -> JSON ``{"n": n, "square": n*n}`` (a non-number
    is a 404); 404s answered as JSON with an ``"error"`` key;
    ``POST /echo`` -> JSON ``{"method", "args", "json"}`` of the request
    (GET on /echo is a 405); ``GET /visit`` counts the client's visits in a
    cookie ``visits``; every response has a header ``X-Elapsed-ms`` (set by
    an ``after_request`` hook from a time stored in ``g`` by ``before_request``).
    Returns a :class:`~helpers.core.verdict.Verdict`.
    """
    title = "Exercise: one small Flask app, all the pieces"
    refused = _start(title, app_or_url, "check_flask_basics(basics_app)")
    if refused is not None:
        return refused
    with _target(app_or_url, "check-flask-basics") as base, _crash_log(app_or_url) as crashes:
        c = _Checker(title, base, crashes)

        def hello():
            r = c.request("GET", "/hello/Ada")
            _expect_status(r, 200, "add @app.route('/hello/<name>')")
            if not r.headers.get("Content-Type", "").startswith("text/html"):
                raise _Fail(f"expected HTML, got {_describe(r)}", hint="Return a str: Flask sends it as text/html.")
            if "Hello, Ada!" not in r.text:
                raise _Fail(f"the page should say 'Hello, Ada!', got {r.text[:80]!r}",
                            hint="Use the <name> argument: f'Hello, {name}!'.")

        def square():
            r = c.request("GET", "/square/12")
            _expect_status(r, 200, "add @app.route('/square/<int:n>')")
            body = _expect_json(r, "return a dict and Flask sends JSON")
            if body != {"n": 12, "square": 144}:
                raise _Fail(f"expected {{'n': 12, 'square': 144}}, got {body!r}",
                            hint="Is n an int? With the converter <int:n> Flask passes a whole number.")

        def converter():
            if c.request("GET", "/square/12").status_code != 200:
                raise _Fail("skipped: GET /square/12 must work first")
            r = c.request("GET", "/square/twelve")
            _expect_status(r, 404, "with <int:n> a URL that is not a whole number matches no route, which is a 404")

        def json_404():
            r = c.request("GET", "/no/such/page")
            _expect_status(r, 404, "unknown URLs are 404")
            body = _expect_json(r, "register @app.errorhandler(404) returning a dict and 404")
            if not isinstance(body, dict) or "error" not in body:
                raise _Fail(f"the 404 JSON should have an 'error' key, got {body!r}",
                            hint="Return {'error': ...}, 404 from the error handler.")

        def echo():
            r = c.request("POST", "/echo", params={"x": "1"}, json={"a": [1, 2]})
            _expect_status(r, 200, "add @app.route('/echo', methods=['POST'])")
            body = _expect_json(r, "return a dict")
            want = {"method": "POST", "args": {"x": "1"}, "json": {"a": [1, 2]}}
            if body != want:
                raise _Fail(f"expected {want}, got {body!r}",
                            hint="Use request.method, request.args.to_dict() and request.get_json().")

        def echo_get():
            r = c.request("GET", "/echo")
            _expect_status(r, 405, "only POST should be allowed on /echo (methods=['POST'])")

        def visits():
            c.http = requests.Session()          # a fresh cookie jar: a first visit
            seen = []
            for _ in range(2):
                r = c.request("GET", "/visit")
                _expect_status(r, 200, "add @app.route('/visit')")
                seen.append(r.cookies.get("visits") or c.http.cookies.get("visits"))
            if seen != ["1", "2"]:
                raise _Fail(f"the cookie 'visits' should be 1 then 2 on two visits, got {seen}",
                            hint="Read request.cookies.get('visits', '0'), add 1, and response.set_cookie('visits', "
                                 "str(n)) on a make_response(...).")

        def elapsed():
            for method, path in (("GET", "/hello/Ada"), ("GET", "/no/such/page")):
                r = c.request(method, path)
                value = r.headers.get("X-Elapsed-ms")
                if value is None:
                    raise _Fail(f"{method} {path} has no X-Elapsed-ms header",
                                hint="In @app.after_request set response.headers['X-Elapsed-ms'] from the time "
                                     "stored in g by @app.before_request.")
                try:
                    if float(value) < 0:
                        raise ValueError
                except ValueError:
                    raise _Fail(f"X-Elapsed-ms should be a number of milliseconds >= 0, got {value!r}",
                                hint="Write (time.perf_counter() - g.start) * 1000 as a number.") from None

        c.case("GET /hello/Ada returns the HTML 'Hello, Ada!'", hello)
        c.case("GET /square/12 returns JSON {'n': 12, 'square': 144}", square)
        c.case("GET /square/twelve is a 404 (int converter)", converter)
        c.case("an unknown URL gets a JSON 404 from an error handler", json_404)
        c.case("POST /echo?x=1 echoes method, query args and JSON body", echo)
        c.case("GET /echo is 405 Method Not Allowed", echo_get)
        c.case("GET /visit counts visits in a cookie (1, then 2)", visits)
        c.case("every response carries X-Elapsed-ms (before_request + g + after_request)", elapsed)
        return c.result()


# --------------------------------------------------------------------------- notebook 05

def check_tasks_api(app_or_url, prefix: str = "/api/v1/tasks") -> Verdict:
    """Notebook 05's exercise: a RESTful tasks collection at ``prefix``, with the PUT route.

    Creates, replaces and deletes tasks of its own (a task needs a
    ``title``; ``done`` is a boolean).  Checks the list and its ``done``
    filter, 201 + Location, PUT (200, 404, 400, 415), DELETE (204, then
    404), 405 on the collection, JSON error bodies, and that no request made
    the app fail with a 500.  When no PUT got anything but a 405 (no route)
    or a 501 (the notebook's stub), the PUT route is not written yet: the
    verdict says "not attempted" whatever the rest of the app does.
    Returns a :class:`~helpers.core.verdict.Verdict`.
    """
    title = "Exercise: the PUT route of the tasks API"
    refused = _start(title, app_or_url, "check_tasks_api(build(*steps, put_step))")
    if refused is not None:
        return refused
    with _target(app_or_url, "check-tasks-api") as base, _crash_log(app_or_url) as crashes:
        c = _Checker(title, base, crashes)
        state: dict = {}
        crashed: list[str] = []
        put_statuses: list[int] = []
        original = c.request

        def request(method, path, **kw):
            r = original(method, path, **kw)
            if r.status_code == 500:        # a crash; a deliberate 501 or 503 is not one
                crashed.append(f"{method} {path}")
            if method == "PUT":
                put_statuses.append(r.status_code)
            return r

        c.request = request

        def listing():
            r = c.request("GET", prefix)
            _expect_status(r, 200, f"add a GET route on {prefix}")
            body = _expect_json(r, "return the list of tasks as JSON")
            if not isinstance(body, list):
                raise _Fail(f"the collection should be a JSON array, got {type(body).__name__}",
                            hint="Return jsonify(tasks), a list.")

        def create():
            r = c.request("POST", prefix, json={"title": "check: write the PUT route", "done": False})
            _expect_status(r, 201, "a successful POST answers 201 Created: return task, 201, {'Location': ...}")
            task = _expect_json(r, "return the new task as JSON")
            if not isinstance(task, dict) or "id" not in task:
                raise _Fail(f"the created task should be returned with its id, got {task!r:.120}",
                            hint="Return the task as stored, with its id.")
            location = r.headers.get("Location", "")
            if not location.rstrip("/").endswith(f"{prefix}/{task['id']}"):
                raise _Fail(f"the Location header should be the new task's URI {prefix}/{task['id']}, got {location!r}",
                            hint="Build it with url_for('get_task', task_id=task['id']).")
            state["id"], state["url"] = task["id"], f"{prefix}/{task['id']}"
            got = c.request("GET", state["url"])
            _expect_status(got, 200, "the URI given in Location must work with GET")
            if _expect_json(got, "return the task as JSON").get("title") != "check: write the PUT route":
                raise _Fail(f"GET {state['url']} does not return the task just created: {_describe(got)}")

        def need_task():
            if "url" not in state:
                raise _Fail("skipped: creating a task (POST) must work first")
            return state["url"]

        def done_filter():
            need_task()
            r = c.request("GET", prefix, params={"done": "false"})
            _expect_status(r, 200, "the list should accept ?done=true|false")
            body = _expect_json(r, "return the filtered list as JSON")
            if not body or any(t.get("done") is not False for t in body):
                raise _Fail(f"?done=false should return only tasks with done false (and include the new one), "
                            f"got {[t.get('done') for t in body][:10]}", hint="Compare request.args.get('done') == 'true'.")
            r = c.request("GET", prefix, params={"done": "true"})
            body = _expect_json(r, "return the filtered list as JSON")
            if any(t.get("done") is not True for t in body) or any(t.get("id") == state["id"] for t in body):
                raise _Fail("?done=true should return only tasks with done true",
                            hint="The string 'false' is truthy in Python: compare with 'true' rather than using bool().")
            r = c.request("GET", prefix, params={"done": "maybe"})
            _expect_json_error(r, 400, "reject ?done=maybe with abort(400, ...): only 'true' and 'false' mean something")

        def put_ok():
            url = need_task()
            r = c.request("PUT", url, json={"title": "check: PUT done", "done": True})
            _expect_status(r, 200, f"add @app.put('{prefix}/<int:task_id>') that replaces the task and returns it")
            body = _expect_json(r, "return the updated task as JSON")
            if not isinstance(body, dict) or body.get("title") != "check: PUT done" or body.get("done") is not True:
                raise _Fail(f"the answer should show the new title and done=true, got {body!r:.150}",
                            hint="Return what store.replace(task_id, fields) returns.")
            again = _expect_json(c.request("GET", url), "GET should return JSON")
            if again.get("title") != "check: PUT done" or again.get("done") is not True:
                raise _Fail(f"the change was not stored: GET {url} still gives {again!r:.150}",
                            hint="Store the new fields with store.replace(task_id, fields).")

        def put_missing():
            need_task()
            r = c.request("PUT", f"{prefix}/987654321", json={"title": "nobody", "done": False})
            _expect_json_error(r, 404, "look the task up first (store.get) and abort(404) when it does not exist")

        def put_invalid():
            url = need_task()
            for bad, why in (({"done": True}, "no title"), ({"title": "x", "done": "yes"}, "done is a string"),
                             (["a", "list"], "not an object")):
                r = c.request("PUT", url, json=bad)
                _expect_status(r, 400, f"a body {json.dumps(bad)} ({why}) must be rejected: "
                                       "validate(json_body()) before storing")
                _expect_json_error(r, 400, "validate the body and abort(400, ...) with a JSON error")

        def put_not_json():
            url = need_task()
            r = c.request("PUT", url, data="title=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
            _expect_json_error(r, 415, "when not request.is_json, abort(415) (json_body() does it)")

        def delete():
            url = need_task()
            r = c.request("DELETE", url)
            _expect_status(r, 204, "DELETE answers 204 No Content: return '', 204")
            if r.content:
                raise _Fail(f"a 204 answer has no body, got {r.content[:60]!r}", hint="Return '', 204.")
            r = c.request("GET", url)
            _expect_json_error(r, 404, "after DELETE the task must be gone (404)")

        def method_not_allowed():
            r = c.request("DELETE", prefix)
            _expect_json_error(r, 405, "DELETE on the whole collection is not part of the API: Flask answers 405; "
                                       "make the error handler answer in JSON")
            if "Allow" not in r.headers:
                raise _Fail("a 405 answer should list the allowed methods in an Allow header",
                            hint="Keep the headers of the HTTPException: e.get_response().headers.")

        def no_crash():
            for body in ("{not json", "null", '"just a string"', "[]"):
                c.request("POST", prefix, data=body, headers={"Content-Type": "application/json"})
                if "url" in state:
                    c.request("PUT", state["url"], data=body, headers={"Content-Type": "application/json"})
            c.request("POST", prefix, data="x", headers={"Content-Type": "text/plain"})
            c.request("GET", prefix + "/not-a-number")
            if crashed:
                raise _Fail(f"{len(crashed)} request(s) made the app fail with a 500: {', '.join(crashed[:4])}",
                            hint="A bad request is the client's fault: check it and answer 4xx, never let it crash the app.")

        c.case(f"GET {prefix} returns a JSON array", listing)
        c.case(f"POST {prefix} answers 201 + Location, and the new task can be read there", create)
        c.case(f"GET {prefix}?done=false|true filters; ?done=maybe is a JSON 400", done_filter)
        c.case("PUT replaces a task (200) and the change is stored", put_ok)
        c.case("PUT on an unknown id is a JSON 404", put_missing)
        c.case("PUT with an invalid body is a JSON 400", put_invalid)
        c.case("PUT with a non-JSON body is a JSON 415", put_not_json)
        c.case("DELETE answers 204 with no body, then the task is 404", delete)
        c.case(f"DELETE {prefix} is a JSON 405 with an Allow header", method_not_allowed)
        c.case("no request, however bad, made the app crash with a 500 Internal Server Error", no_crash)
        if put_statuses and set(put_statuses) <= {405, 501}:
            # Nothing of the PUT route is there yet: the other lines judge the notebook's own steps.
            what = ("still answers 501 Not Implemented (the stub)" if 501 in put_statuses
                    else f"answers 405: no route accepts PUT on {prefix}/<id>")
            return Verdict(title).not_attempted(
                f"Every PUT {what}; the PUT route is not written yet.",
                hint="In put_step: 404 when store.get(task_id) is None, then fields = validate(json_body()), "
                     "then return store.replace(task_id, fields).")
        return c.result()
