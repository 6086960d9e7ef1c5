"""Notebook 04 (§2.5.4.1-2.5.4.7, Flask fundamentals): the exercise's check.

:func:`check_flask_basics` -- routes, converters, methods, responses, cookies, error handlers and hooks.
"""

from __future__ import annotations

import requests

from helpers.core.verdict import Verdict
from helpers.services.checking import Checker, Fail, describe, run_check


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

    def cases(c: Checker) -> Verdict:

        def hello():
            r = c.expect("GET", "/hello/Ada", 200, "add @app.route('/hello/<name>')")
            if not r.headers.get("Content-Type", "").startswith("text/html"):
                raise Fail(f"expected HTML, got {describe(r)}", hint="Return a str: Flask sends it as text/html.")
            if "Hello, Ada!" not in r.text:
                raise Fail(f"the page should say 'Hello, Ada!', got {r.text[:80]!r}",
                            hint="Use the <name> argument: f'Hello, {name}!'.")

        def json_404():
            body = c.json("GET", "/no/such/page", 404, "unknown URLs are 404",
                          "register @app.errorhandler(404) returning a dict and 404")
            if not isinstance(body, dict) or "error" not in body:
                raise Fail(f"the 404 JSON should have an 'error' key, got {body!r}",
                            hint="Return {'error': ...}, 404 from the error handler.")

        def visits():
            c.http = requests.Session()          # a fresh cookie jar: a first visit
            seen = []
            for _ in range(2):
                r = c.expect("GET", "/visit", 200, "add @app.route('/visit')")
                seen.append(r.cookies.get("visits") or c.http.cookies.get("visits"))
            if seen != ["1", "2"]:
                raise Fail(f"the cookie 'visits' should be 1 then 2 on two visits, got {seen}",
                            hint="Read request.cookies.get('visits', '0'), add 1, and response.set_cookie('visits', "
                                 "str(n)) on a make_response(...).")

        def elapsed():
            for method, path in (("GET", "/hello/Ada"), ("GET", "/no/such/page")):
                r = c.request(method, path)
                value = r.headers.get("X-Elapsed-ms")
                if value is None:
                    raise Fail(f"{method} {path} has no X-Elapsed-ms header",
                                hint="In @app.after_request set response.headers['X-Elapsed-ms'] from the time "
                                     "stored in g by @app.before_request.")
                try:
                    if float(value) < 0:
                        raise ValueError
                except ValueError:
                    raise Fail(f"X-Elapsed-ms should be a number of milliseconds >= 0, got {value!r}",
                                hint="Write (time.perf_counter() - g.start) * 1000 as a number.") from None

        c.case("GET /hello/Ada returns the HTML 'Hello, Ada!'", hello, given=True)
        c.case("GET /square/12 returns JSON {'n': 12, 'square': 144}",
               lambda: c.expect_equal("GET", "/square/12", {"n": 12, "square": 144},
                                      fix="add @app.route('/square/<int:n>')", json_fix="return a dict and Flask sends JSON",
                                      hint="Is n an int? With the converter <int:n> Flask passes a whole number."))
        c.case("GET /square/twelve is a 404 (int converter)",
               lambda: c.expect_404("/square/twelve", after="/square/12",
                                    fix="with <int:n> a URL that is not a whole number matches no route, which is a 404"))
        c.case("an unknown URL gets a JSON 404 from an error handler", json_404)
        c.case("POST /echo?x=1 echoes method, query args and JSON body",
               lambda: c.expect_equal("POST", "/echo", {"method": "POST", "args": {"x": "1"}, "json": {"a": [1, 2]}},
                                      fix="add @app.route('/echo', methods=['POST'])", json_fix="return a dict",
                                      hint="Use request.method, request.args.to_dict() and request.get_json().",
                                      params={"x": "1"}, json={"a": [1, 2]}))
        c.case("GET /echo is 405 Method Not Allowed",
               lambda: c.expect("GET", "/echo", 405, "only POST should be allowed on /echo (methods=['POST'])"))
        c.case("GET /visit counts visits in a cookie (1, then 2)", visits)
        c.case("every response carries X-Elapsed-ms (before_request + g + after_request)", elapsed)
        return c.result()

    return run_check(title, app_or_url, "check_flask_basics(basics_app)", "check-flask-basics", cases)


