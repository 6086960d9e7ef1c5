"""The exercise checkers, each tried on a correct solution and on wrong ones."""

import time

import pytest
import requests
from flask import Flask, Response, abort, g, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from helpers import WorkbookError, explain
from helpers.core import servers
from helpers.services.api_checks import check_tasks_api
from helpers.services.contract_checks import ACCOUNTS, USERS, check_contract
from helpers.services.flask_checks import check_flask_basics
from helpers.services.tasks import create_app


def failing(verdict):
    """The names of the cases a verdict fails (its ✘ lines, without what was seen)."""
    return [text.split(" — ")[0] for ok, text in verdict.items if ok is False]


def detail(verdict, name):
    """What a failing case saw, and the verdict's hints."""
    line = next(text for ok, text in verdict.items if ok is False and text.startswith(name))
    return line + "\n" + "\n".join(verdict.hints)


# --------------------------------------------------------------------------- notebook 03

def users_app(*, filter_=True, subcollection=True, xml=True, strict=True, empty_for_unknown=False):
    app = Flask("users")

    def find(user_id):
        user = next((u for u in USERS if u["id"] == user_id), None)
        if user is None:
            abort(404)
        return user

    @app.get("/v1/users")
    def users():
        name = request.args.get("name")
        return jsonify([u for u in USERS if not filter_ or name is None or u["name"] == name])

    @app.get("/v1/users/<int:user_id>")
    def user(user_id):
        best = request.accept_mimetypes.best_match(["application/json", "application/xml"])
        if best is None and strict:
            abort(406)
        u = find(user_id)
        if best == "application/xml" and xml:
            fields = "".join(f"<{k}>{v}</{k}>" for k, v in u.items())
            return Response(f"<user>{fields}</user>", mimetype="application/xml")
        return u

    if subcollection:
        @app.get("/v1/users/<int:user_id>/accounts")
        def accounts(user_id):
            if not empty_for_unknown:
                find(user_id)
            return jsonify([a for a in ACCOUNTS if a["user_id"] == user_id])

    return app


def test_contract_correct():
    report = check_contract(users_app())
    assert report.passed, str(report)
    assert sum(ok is True for ok, _ in report.items) == 8 and "PASSED" in report._repr_html_()


def test_contract_wrong_solutions():
    assert failing(check_contract(users_app(filter_=False))) == [
        "GET /v1/users?name=Pepe filters the collection with the query string"]
    report = check_contract(users_app(subcollection=False, xml=False, strict=False))
    assert failing(report) == ["GET /v1/users/1/accounts returns the sub-collection of user 1",
                               "GET /v1/users/99/accounts answers 404",
                               "GET /v1/users/2 with Accept: application/xml returns XML",
                               "GET /v1/users/2 with Accept: image/png answers 406 Not Acceptable"]
    assert "sub-collection route" in "\n".join(report.hints)
    assert failing(check_contract(users_app(empty_for_unknown=True))) == ["GET /v1/users/99/accounts answers 404"]
    report = check_contract(Flask("empty"))
    assert not report and not any(ok for ok, _ in report.items)
    assert "Add @app.get('/v1/users')" in str(report)


def test_a_view_function_instead_of_the_app_is_one_sentence():
    app = users_app()
    report = check_contract(app.view_functions["users"])
    assert not report and "looks like a view function" in str(report)
    assert "Pass the app itself, the object made by Flask(...): check_contract(users_app)" in str(report)


def test_a_step_instead_of_the_app_is_called_a_step():
    def put_step(app):
        pass
    report = check_tasks_api(put_step)
    assert not report and "view function" not in str(report)
    assert "put_step() is a function that adds routes to an app" in str(report)
    assert "check_tasks_api(build(*steps, put_step))" in str(report)


def test_contract_by_url_and_bad_targets():
    with servers.serve(users_app(), name="users-by-url") as s:
        assert check_contract(s.url).passed
    for target, said in [("localhost:5000", "not a base URL"), (f"http://127.0.0.1:{servers.free_port()}", "Nothing answers"),
                         (42, "needs your Flask app")]:
        report = check_contract(target)
        assert not report and said in str(report)
    report = check_contract(None)
    assert not report and not report.attempted


# --------------------------------------------------------------------------- notebook 04

def basics_app(*, converter=True, json_errors=True, cookie=True, hooks=True, echo_methods=("POST",)):
    app = Flask("basics")

    if hooks:
        @app.before_request
        def start():
            g.start = time.perf_counter()

        @app.after_request
        def stamp(response):
            response.headers["X-Elapsed-ms"] = f"{(time.perf_counter() - g.start) * 1000:.3f}"
            return response

    @app.route("/hello/<name>")
    def hello(name):
        return f"<h1>Hello, {name}!</h1>"

    if converter:
        @app.route("/square/<int:n>")
        def square(n):
            return {"n": n, "square": n * n}
    else:
        @app.route("/square/<n>")
        def square(n):
            return {"n": int(n), "square": int(n) ** 2}  # 500 on 'twelve'

    @app.route("/echo", methods=list(echo_methods))
    def echo():
        return {"method": request.method, "args": request.args.to_dict(), "json": request.get_json(silent=True)}

    @app.route("/visit")
    def visit():
        n = int(request.cookies.get("visits", "0")) + 1
        response = make_response(f"<p>Visit number {n}</p>")
        if cookie:
            response.set_cookie("visits", str(n))
        return response

    if json_errors:
        @app.errorhandler(404)
        def not_found(e):
            return {"error": "not found", "path": request.path}, 404

    return app


def test_basics_correct():
    assert check_flask_basics(basics_app()).passed


def test_basics_wrong_solutions():
    report = check_flask_basics(basics_app(converter=False, json_errors=False))
    assert failing(report) == ["GET /square/twelve is a 404 (int converter)",
                               "an unknown URL gets a JSON 404 from an error handler"]
    seen = detail(report, "GET /square/twelve")
    assert "got 500 because the app raised ValueError" in seen and "(in square(), line" in seen
    assert "The first exception your app raised: ValueError" in str(report) and "square() line" in str(report)
    report = check_flask_basics(basics_app(cookie=False, hooks=False, echo_methods=("GET", "POST")))
    assert failing(report) == ["GET /echo is 405 Method Not Allowed",
                               "GET /visit counts visits in a cookie (1, then 2)",
                               "every response carries X-Elapsed-ms (before_request + g + after_request)"]


# --------------------------------------------------------------------------- notebook 05

def small_tasks_app(*, put=True, validate=True, json_errors=True, truthy_filter=False, status_201=True,
                    delete_status=204):
    """A minimal tasks API (in memory) in the style of notebook 05, with switchable mistakes."""
    app = Flask("tasks-small")
    tasks = {1: {"id": 1, "title": "seed", "done": True}}

    def body():
        if not request.is_json:
            abort(415, "send JSON")
        data = request.get_json(silent=True)
        if validate and (not isinstance(data, dict) or not isinstance(data.get("title"), str)
                         or not isinstance(data.get("done", False), bool)):
            abort(400, "title (string) required; done must be a boolean")
        return data

    @app.get("/api/v1/tasks")
    def list_tasks():
        done = request.args.get("done")
        if done is None:
            return jsonify(list(tasks.values()))
        if truthy_filter:
            return jsonify([t for t in tasks.values() if t["done"] == bool(done)])
        if done not in ("true", "false"):
            abort(400, "done must be true or false")
        return jsonify([t for t in tasks.values() if t["done"] == (done == "true")])

    @app.post("/api/v1/tasks")
    def add():
        data = body()
        task_id = max(tasks, default=0) + 1
        tasks[task_id] = {"id": task_id, "title": data["title"], "done": data.get("done", False)}
        return tasks[task_id], (201 if status_201 else 200), {"Location": f"/api/v1/tasks/{task_id}"}

    @app.get("/api/v1/tasks/<int:task_id>")
    def get(task_id):
        if task_id not in tasks:
            abort(404)
        return tasks[task_id]

    if put:
        @app.put("/api/v1/tasks/<int:task_id>")
        def replace(task_id):
            if task_id not in tasks:
                abort(404)
            data = body()
            tasks[task_id] = {"id": task_id, "title": data["title"], "done": data.get("done", False)}
            return tasks[task_id]

    @app.delete("/api/v1/tasks/<int:task_id>")
    def delete(task_id):
        if tasks.pop(task_id, None) is None:
            abort(404)
        return ("", 204) if delete_status == 204 else ({"deleted": task_id}, 200)

    if json_errors:
        @app.errorhandler(HTTPException)
        def as_json(e):
            return {"status": e.code, "error": e.name, "message": e.description}, e.code, \
                {k: v for k, v in e.get_response().headers.items() if k == "Allow"}

    return app


def test_tasks_reference_service_and_small_solution_pass(tmp_path):
    assert check_tasks_api(create_app(tmp_path / "t.db")).passed
    report = check_tasks_api(small_tasks_app())
    assert report.passed, str(report)


CRASH = "no request, however bad, made the app crash with a 500 Internal Server Error"


def test_tasks_wrong_solutions():
    report = check_tasks_api(small_tasks_app(put=False))   # no PUT route: nothing of the exercise is there
    assert not report and not report.attempted and "no route accepts PUT" in str(report)
    assert not any(ok for ok, _ in report.items)            # no credit for the notebook's own steps
    report = check_tasks_api(small_tasks_app(validate=False, json_errors=False))
    names = failing(report)
    assert "PUT with an invalid body is a JSON 400" in names and CRASH in names
    assert f"DELETE /api/v1/tasks is a JSON 405 with an Allow header" in names
    report = check_tasks_api(small_tasks_app(truthy_filter=True, status_201=False, delete_status=200))
    assert failing(report)[:2] == ["POST /api/v1/tasks answers 201 + Location, and the new task can be read there",
                                   "GET /api/v1/tasks?done=false|true filters; ?done=maybe is a JSON 400"]
    assert "skipped" in detail(report, "PUT replaces a task")  # PUT needs the POST to work
    assert "DELETE answers 204 with no body, then the task is 404" in failing(report)


def test_tasks_stub_that_answers_501_is_not_attempted_and_not_a_crash():
    app = small_tasks_app()
    app.view_functions["replace"] = lambda task_id: abort(501, "PUT is not implemented yet")
    report = check_tasks_api(app)
    assert not report and not report.attempted
    assert "501 Not Implemented (the stub)" in str(report) and "5xx" not in str(report)
    app = small_tasks_app()
    real = app.view_functions["replace"]
    # A route that works for some requests and answers 501 for others is attempted: its 501s are not crashes.
    app.view_functions["replace"] = lambda task_id: real(task_id) if request.is_json else abort(501)
    report = check_tasks_api(app)
    assert report.attempted and CRASH not in failing(report)
    assert "501 Not Implemented" in detail(report, "PUT with a non-JSON body")


def test_basics_crashing_hook_is_blamed_on_the_exception_not_on_missing_routes():
    app = Flask("hook_crash")

    @app.route("/hello/<name>")
    def hello(name):
        return f"Hello, {name}!"

    @app.after_request
    def stop_clock(response):          # g.start was never set: every request is a 500
        response.headers["X-Elapsed-ms"] = str(time.perf_counter() - g.start)
        return response

    report = check_flask_basics(app)
    first_ok, first = report.items[0]
    assert first_ok is False and "because the app raised AttributeError" in first
    assert "in stop_clock()" in first and "add @app.route" not in str(report).lower()
    assert "because the app raised AttributeError" in detail(report, "GET /visit")
    assert str(report).count("The first exception your app raised: AttributeError") == 1
    assert "stop_clock() line" in str(report)
    assert all(type(h).__name__ != "_CrashLog" for h in app.logger.handlers) and app.logger.propagate


def test_tasks_500_keeps_the_case_hint():
    app = small_tasks_app()
    original = app.view_functions["replace"]
    app.view_functions["replace"] = lambda task_id: original(task_id) if task_id < 1000 else 1 / 0  # no 404
    report = check_tasks_api(app)
    assert "PUT on an unknown id is a JSON 404" in failing(report)
    seen = detail(report, "PUT on an unknown id is a JSON 404")
    assert "because the app raised ZeroDivisionError" in seen and "abort(404)" in seen


# --------------------------------------------------------------------------- notebook 03 tools

def test_uri_design_problems():
    from helpers.services.contract_checks import uri_design_problems
    assert uri_design_problems("/api/v1/tasks") == []
    assert uri_design_problems("/v1/users/1/accounts?name=Pepe") == []
    assert uri_design_problems("/api/tasks") == ["no version (v1, v2...) at the start"]
    assert uri_design_problems("/api/v1/due_tasks") == ["underscore instead of hyphen"]
    assert "an action (verb) where a noun belongs" in uri_design_problems("/api/v1/getTasks")
    assert "upper-case letters" in uri_design_problems("/api/v1/Tasks")
    assert uri_design_problems("/v1/settings") == []          # 'set' inside a noun is not a verb
    with pytest.raises(WorkbookError, match="not a URI path"):
        uri_design_problems("api/v1/tasks")


@pytest.mark.timeout(120)
def test_run_schemathesis_on_the_tasks_service(tmp_path):
    from helpers.services.contract_checks import run_schemathesis
    with servers.serve(create_app(tmp_path / "t.db"), name="st-small") as server:
        result = run_schemathesis(server.url + "/openapi.json", max_examples=3)
        assert result.passed and result.operations == 7 and result.generated > 0, str(result)
        assert "operations tested" in str(result)
        with pytest.raises(requests.HTTPError) as raised:  # the requests error itself: helpers.explain says it
            run_schemathesis(server.url + "/nothing.json")
        assert explain(raised.value).endswith("/nothing.json answered 404 NOT FOUND.")
