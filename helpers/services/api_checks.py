"""Notebook 05 (§2.5.4.8-2.5.4.10, a RESTful API with Flask): the exercise's check.

:func:`check_tasks_api` -- a RESTful tasks collection (filters, 201 + Location, PUT, 204,
400/404/405/415 in JSON, no 500).
"""

from __future__ import annotations

import json

from helpers.core.verdict import Verdict
from helpers.services.checking import Checker, Fail, describe, expect_json, expect_json_error, expect_status, run_check


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

    def cases(c: Checker) -> Verdict:
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
            body = c.json("GET", prefix, 200, f"add a GET route on {prefix}",
                          "return the list of tasks as JSON")
            if not isinstance(body, list):
                raise Fail(f"the collection should be a JSON array, got {type(body).__name__}",
                            hint="Return jsonify(tasks), a list.")

        def create():
            r = c.request("POST", prefix, json={"title": "check: write the PUT route", "done": False})
            expect_status(r, 201, "a successful POST answers 201 Created: return task, 201, {'Location': ...}")
            task = expect_json(r, "return the new task as JSON")
            if not isinstance(task, dict) or "id" not in task:
                raise Fail(f"the created task should be returned with its id, got {task!r:.120}",
                            hint="Return the task as stored, with its id.")
            location = r.headers.get("Location", "")
            if not location.rstrip("/").endswith(f"{prefix}/{task['id']}"):
                raise Fail(f"the Location header should be the new task's URI {prefix}/{task['id']}, got {location!r}",
                            hint="Build it with url_for('get_task', task_id=task['id']).")
            state["id"], state["url"] = task["id"], f"{prefix}/{task['id']}"
            got = c.request("GET", state["url"])
            expect_status(got, 200, "the URI given in Location must work with GET")
            if expect_json(got, "return the task as JSON").get("title") != "check: write the PUT route":
                raise Fail(f"GET {state['url']} does not return the task just created: {describe(got)}")

        def need_task():
            if "url" not in state:
                raise Fail("skipped: creating a task (POST) must work first")
            return state["url"]

        def done_filter():
            need_task()
            body = c.json("GET", prefix, 200, "the list should accept ?done=true|false",
                          "return the filtered list as JSON", params={"done": "false"})
            if not body or any(t.get("done") is not False for t in body):
                raise Fail(f"?done=false should return only tasks with done false (and include the new one), "
                            f"got {[t.get('done') for t in body][:10]}", hint="Compare request.args.get('done') == 'true'.")
            r = c.request("GET", prefix, params={"done": "true"})
            body = expect_json(r, "return the filtered list as JSON")
            if any(t.get("done") is not True for t in body) or any(t.get("id") == state["id"] for t in body):
                raise Fail("?done=true should return only tasks with done true",
                            hint="The string 'false' is truthy in Python: compare with 'true' rather than using bool().")
            r = c.request("GET", prefix, params={"done": "maybe"})
            expect_json_error(r, 400, "reject ?done=maybe with abort(400, ...): only 'true' and 'false' mean something")

        def put_ok():
            url = need_task()
            body = c.json("PUT", url, 200, f"add @app.put('{prefix}/<int:task_id>') that replaces the task and returns it",
                          "return the updated task as JSON", json={"title": "check: PUT done", "done": True})
            if not isinstance(body, dict) or body.get("title") != "check: PUT done" or body.get("done") is not True:
                raise Fail(f"the answer should show the new title and done=true, got {body!r:.150}",
                            hint="Return what store.replace(task_id, fields) returns.")
            again = expect_json(c.request("GET", url), "GET should return JSON")
            if again.get("title") != "check: PUT done" or again.get("done") is not True:
                raise Fail(f"the change was not stored: GET {url} still gives {again!r:.150}",
                            hint="Store the new fields with store.replace(task_id, fields).")

        def put_missing():
            need_task()
            r = c.request("PUT", f"{prefix}/987654321", json={"title": "nobody", "done": False})
            expect_json_error(r, 404, "look the task up first (store.get) and abort(404) when it does not exist")

        def put_invalid():
            url = need_task()
            for bad, why in (({"done": True}, "no title"), ({"title": "x", "done": "yes"}, "done is a string"),
                             (["a", "list"], "not an object")):
                r = c.request("PUT", url, json=bad)
                expect_status(r, 400, f"a body {json.dumps(bad)} ({why}) must be rejected: "
                                       "validate(json_body()) before storing")
                expect_json_error(r, 400, "validate the body and abort(400, ...) with a JSON error")

        def put_not_json():
            url = need_task()
            r = c.request("PUT", url, data="title=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
            expect_json_error(r, 415, "when not request.is_json, abort(415) (json_body() does it)")

        def delete():
            url = need_task()
            r = c.expect("DELETE", url, 204, "DELETE answers 204 No Content: return '', 204")
            if r.content:
                raise Fail(f"a 204 answer has no body, got {r.content[:60]!r}", hint="Return '', 204.")
            r = c.request("GET", url)
            expect_json_error(r, 404, "after DELETE the task must be gone (404)")

        def method_not_allowed():
            r = c.request("DELETE", prefix)
            expect_json_error(r, 405, "DELETE on the whole collection is not part of the API: Flask answers 405; "
                                       "make the error handler answer in JSON")
            if "Allow" not in r.headers:
                raise Fail("a 405 answer should list the allowed methods in an Allow header",
                            hint="Keep the headers of the HTTPException: e.get_response().headers.")

        def no_crash():
            for body in ("{not json", "null", '"just a string"', "[]"):
                c.request("POST", prefix, data=body, headers={"Content-Type": "application/json"})
                if "url" in state:
                    c.request("PUT", state["url"], data=body, headers={"Content-Type": "application/json"})
            c.request("POST", prefix, data="x", headers={"Content-Type": "text/plain"})
            c.request("GET", prefix + "/not-a-number")
            if crashed:
                raise Fail(f"{len(crashed)} request(s) made the app fail with a 500: {', '.join(crashed[:4])}",
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

    return run_check(title, app_or_url, "check_tasks_api(build(*steps, put_step))", "check-tasks-api", cases)

