"""What the checkers of notebooks 03, 04 and 05 share: serve the app, send real requests, judge the answers.

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

The checkers: :func:`helpers.services.contract_checks.check_contract` (03),
:func:`helpers.services.flask_checks.check_flask_basics` (04),
:func:`helpers.services.api_checks.check_tasks_api` (05).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import traceback
from typing import Callable, Iterator
from urllib.parse import urlsplit

import requests

from helpers.core import servers
from helpers.core.verdict import Verdict

TIMEOUT = 5


class Checker:
    """Runs cases against one base URL, into a :class:`~helpers.core.verdict.Verdict`; a case raises Fail."""

    def __init__(self, title: str, base: str, crashes: "CrashLog | None" = None):
        self.verdict = Verdict(title)
        self.base = base.rstrip("/")
        self.http = requests.Session()
        self.crashes = crashes
        self.first_crash = ""
        self.asked: list[bool] = []  # the results of the cases the exercise asks for (not given by its starter)
        self.given: list[bool] = []  # those of the cases its starter already passes

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

    def expect(self, method: str, path: str, status: int | tuple[int, ...], fix: str, **kw) -> requests.Response:
        """Send a request that must answer ``status`` (else the case fails with ``fix``): the response."""
        r = self.request(method, path, **kw)
        expect_status(r, status, fix)
        return r

    def json(self, method: str, path: str, status: int, fix: str, json_fix: str, **kw):
        """Send a request that must answer ``status`` (else ``fix``) with a JSON body (else ``json_fix``): the body."""
        return expect_json(self.expect(method, path, status, fix, **kw), json_fix)

    def expect_equal(self, method: str, path: str, want, *, fix: str, json_fix: str, hint: str, **kw) -> None:
        """The request must answer 200 with the JSON ``want`` exactly (``hint`` says how when it does not)."""
        body = self.json(method, path, 200, fix, json_fix, **kw)
        if body != want:
            raise Fail(f"expected {want}, got {body!r:.150}", hint=hint)

    def expect_404(self, path: str, *, after: str, fix: str) -> None:
        """``GET path`` must answer 404 (else ``fix``), judged only once ``GET after`` answers 200: a 404
        from a route that is not written yet proves nothing, so until then the case is skipped (and fails)."""
        if self.request("GET", after).status_code != 200:
            raise Fail(f"skipped: GET {after} must work first (a 404 from a missing route proves nothing)")
        self.expect("GET", path, 404, fix)

    def case(self, name: str, fn: Callable[[], None], given: bool = False) -> bool:
        """Run one case; ``given``: the exercise's starter already does it (it proves no work of the student's)."""
        ok = self._case(name, fn)
        (self.given if given else self.asked).append(ok)
        return ok

    def _case(self, name: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except Fail as exc:
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
        if any(self.given) and not any(self.asked):  # the untouched starter: only what it came with works
            self.verdict.attempted = False
            self.verdict.note("Nothing the exercise asks for works yet: what passes came with the starting point.")
        return self.verdict


class Fail(Exception):
    """A case that does not hold: ``what`` was seen, ``hint`` says what to change (None: nothing to add)."""

    def __init__(self, what: str, hint: str | None = None):
        super().__init__(what)
        if hint:    # a hint is a sentence of its own
            hint = hint[:1].upper() + hint[1:] + ("" if hint.endswith((".", "?", "!", ")")) else ".")
        self.what, self.hint = what, hint


def describe(r: requests.Response) -> str:
    body = r.text.strip().replace("\n", " ")
    return f"{r.status_code} {r.headers.get('Content-Type', 'no Content-Type')}" + (f" {body[:120]!r}" if body else " (empty body)")


def expect_status(r: requests.Response, expected: int | tuple[int, ...], fix: str) -> None:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    if r.status_code in allowed:
        return
    wanted = " or ".join(map(str, allowed))
    if r.status_code == 500 and getattr(r, "app_error", None):
        # The 500 page says nothing useful; the exception does.
        raise Fail(f"expected {wanted}, got 500 because the app raised {r.app_error}",
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
    raise Fail(f"expected {wanted}, got {describe(r)}", hint=hint)


def expect_json(r: requests.Response, fix: str):
    if "json" not in r.headers.get("Content-Type", ""):
        raise Fail(f"expected a JSON body (Content-Type application/json), got {describe(r)}", hint=fix)
    try:
        return r.json()
    except ValueError:
        raise Fail(f"the body is labelled JSON but does not parse: {r.text[:80]!r}", hint=fix) from None


def expect_json_error(r: requests.Response, status: int, fix: str) -> None:
    expect_status(r, status, fix)
    body = expect_json(r, f"answer {status} errors with a JSON object, e.g. from an @app.errorhandler({status}) "
                            "or abort() plus a JSON error handler")
    if not isinstance(body, dict):
        raise Fail(f"the {status} error body should be a JSON object describing the error, got {body!r}")


class CrashLog(logging.Handler):
    """Keeps the exceptions a Flask app logs while it is being checked."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@contextlib.contextmanager
def crash_log(app) -> Iterator["CrashLog | None"]:
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
    log = CrashLog()
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
def serve_target(app_or_url, name: str) -> Iterator[str]:
    """A base URL for ``app_or_url`` (checked with :func:`_unusable` first): serve an app for the check, or use a URL."""
    if isinstance(app_or_url, str):
        yield app_or_url.rstrip("/")
        return
    with servers.serve(app_or_url, name=name) as server:
        yield server.url


def cannot_check(title: str, app_or_url, example: str) -> Verdict | None:
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


def run_check(title: str, app_or_url, example: str, name: str, cases: Callable[[Checker], Verdict]) -> Verdict:
    """Judge ``app_or_url`` with ``cases(checker)``, the checker's own cases; the :class:`Verdict`.

    A verdict that says why at once when ``app_or_url`` cannot be checked (``example`` is the call
    to write instead); else the app is served as ``name`` (or the URL used) while the cases run,
    and the exceptions it logs are collected for the verdict.
    """
    refused = cannot_check(title, app_or_url, example)
    if refused is not None:
        return refused
    with serve_target(app_or_url, name) as base, crash_log(app_or_url) as crashes:
        return cases(Checker(title, base, crashes))
