"""The reference tasks service, driven over real HTTP (helpers.core.servers.serve)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from helpers.core import servers
from helpers.services.tasks import SEED_TASKS, create_app, openapi_document, seed_tasks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def svc(tmp_path):
    with servers.serve(create_app(tmp_path / "tasks.db"), name="test-tasks") as server:
        server.api = server.url + "/api/v1/tasks"
        yield server


def test_seed_file_matches_builtin_copy():
    assert json.loads((ROOT / "data/tasks/tasks-seed.json").read_text()) == SEED_TASKS == seed_tasks()


def test_list_and_get(svc):
    r = requests.get(svc.api, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    tasks = r.json()
    assert len(tasks) == len(SEED_TASKS) == int(r.headers["X-Total-Count"])
    assert set(tasks[0]) == {"id", "title", "description", "done", "priority", "due"}
    one = requests.get(f"{svc.api}/{tasks[0]['id']}", timeout=5)
    assert one.status_code == 200 and one.json() == tasks[0]


def test_filters_sort_and_paging(svc):
    get = lambda **p: requests.get(svc.api, params=p, timeout=5)
    assert all(not t["done"] for t in get(done="false").json())
    assert all(t["priority"] == "high" for t in get(priority="high").json())
    assert [t["title"] for t in get(q="put route").json()] == ["Implement the PUT route"]
    dues = [t["due"] for t in get(sort="due").json()]
    dated = [d for d in dues if d]
    assert dated == sorted(dated) and dues[-1] is None
    assert [t["id"] for t in get(sort="-id").json()] == sorted((t["id"] for t in get().json()), reverse=True)
    page = get(limit=2, offset=1)
    assert len(page.json()) == 2 and page.headers["X-Total-Count"] == str(len(SEED_TASKS))
    assert all(t["due"] and t["due"] < "2026-02-20" for t in get(due_before="2026-02-20").json())
    for bad in ({"done": "yes"}, {"priority": "urgent"}, {"limit": "0"}, {"limit": "x"},
                {"offset": "-1"}, {"sort": "colour"}, {"due_before": "2026-13-01"}):
        r = get(**bad)
        assert r.status_code == 400 and r.json()["status"] == 400, bad


def test_create_update_delete(svc):
    r = requests.post(svc.api, json={"title": "Write tests", "due": "2026-05-01"}, timeout=5)
    assert r.status_code == 201
    task = r.json()
    assert r.headers["Location"] == f"/api/v1/tasks/{task['id']}"
    assert task == {"id": task["id"], "title": "Write tests", "description": "", "done": False,
                    "priority": "normal", "due": "2026-05-01"}
    url = svc.url + r.headers["Location"]
    r = requests.put(url, json={"title": "Write more tests", "done": True}, timeout=5)
    assert r.status_code == 200 and r.json()["done"] is True and r.json()["due"] is None  # replaced
    r = requests.patch(url, json={"priority": "high"}, timeout=5)
    assert r.status_code == 200 and r.json()["priority"] == "high" and r.json()["title"] == "Write more tests"
    r = requests.delete(url, timeout=5)
    assert r.status_code == 204 and r.content == b""
    assert requests.get(url, timeout=5).status_code == 404
    assert requests.delete(url, timeout=5).status_code == 404
    assert requests.put(url, json={"title": "x"}, timeout=5).status_code == 404


@pytest.mark.parametrize("kwargs, status, words", [
    ({"data": "title=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, "application/json"),
    ({"data": "{oops", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ({"data": b"\xff\xfe{", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ({"json": ["a", "list"]}, 400, "JSON object"),
    ({"json": {}}, 400, "'title' is required"),
    ({"json": {"title": "   "}}, 400, "non-blank"),
    ({"json": {"title": "x" * 201}}, 400, "at most 200"),
    ({"json": {"title": "x", "done": "yes"}}, 400, "'done'"),
    ({"json": {"title": "x", "priority": "urgent"}}, 400, "'priority'"),
    ({"json": {"title": "x", "due": "06/06/15"}}, 400, "YYYY-MM-DD"),
    ({"json": {"title": "x", "colour": "red"}}, 400, "Unknown field"),
    ({"json": {"id": "1234", "title": "Tarea 1"}}, 400, "assigned by the server"),
])
def test_bad_input_is_a_json_4xx(svc, kwargs, status, words):
    r = requests.post(svc.api, timeout=5, **kwargs)
    assert r.status_code == status and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"] == status and words in body["message"], body


def test_unknown_resource_and_method(svc):
    r = requests.get(svc.url + "/api/v1/tasks/999", timeout=5)
    assert r.status_code == 404 and "999" in r.json()["message"]
    assert requests.get(svc.url + "/api/v1/task", timeout=5).json()["status"] == 404
    assert requests.get(svc.url + "/api/v1/tasks/abc", timeout=5).status_code == 404
    assert requests.get(svc.url + "/api/v1/tasks/" + "9" * 30, timeout=5).status_code == 404
    r = requests.delete(svc.api, timeout=5)
    assert r.status_code == 405 and "POST" in r.headers["Allow"] and r.json()["status"] == 405


@pytest.mark.parametrize("accept, status, ctype, marker", [
    (None, 200, "application/json", '"title"'),
    ("application/json", 200, "application/json", '"title"'),
    ("application/xml", 200, "application/xml; charset=utf-8", "<task><id>1</id>"),
    ("text/html", 200, "text/html; charset=utf-8", "<table"),
    ("text/*;q=0.9, application/xml;q=0.5", 200, "text/html; charset=utf-8", "<table"),
    ("image/png", 406, "application/json", "Not Acceptable"),
    # the chapter's example: a charset parameter must not turn HTML into a 406
    ("text/html; charset=UTF-8", 200, "text/html; charset=utf-8", "<table"),
    ("application/json; charset=utf-8", 200, "application/json", '"title"'),
    ("text/html; charset=UTF-8;q=0.4, application/xml", 200, "application/xml; charset=utf-8", "<task>"),
    ("text/html; charset=iso-8859-1", 406, "application/json", "Not Acceptable"),
])
def test_content_negotiation(svc, accept, status, ctype, marker):
    headers = {"Accept": accept} if accept else {}
    r = requests.get(svc.api + "/1", headers=headers, timeout=5)
    if accept is None:  # requests sends */* by default; send no Accept at all too
        r2 = requests.Session()
        r2.headers.pop("Accept")
        assert r2.get(svc.api + "/1", timeout=5).headers["Content-Type"] == "application/json"
    assert (r.status_code, r.headers["Content-Type"]) == (status, ctype) and marker in r.text
    assert "Accept" in r.headers.get("Vary", "Accept")


def test_xml_survives_control_characters(svc):
    from xml.etree import ElementTree as ET
    r = requests.post(svc.api, json={"title": "bell\x07 & <tag>"}, timeout=5)
    xml = requests.get(svc.url + r.headers["Location"], headers={"Accept": "application/xml"}, timeout=5)
    assert ET.fromstring(xml.content).find("title").text == "bell\ufffd & <tag>"
    listing = requests.get(svc.api, headers={"Accept": "application/xml"}, timeout=5)
    assert len(ET.fromstring(listing.content).findall("task")) == len(SEED_TASKS) + 1


def test_health_index_and_openapi(svc):
    assert requests.get(svc.url + "/health", timeout=5).json() == {"status": "ok", "tasks": len(SEED_TASKS)}
    assert requests.get(svc.url + "/", timeout=5).json()["links"]["tasks"] == "/api/v1/tasks"
    doc = requests.get(svc.url + "/openapi.json", timeout=5).json()
    assert doc["openapi"].startswith("3.") and doc["servers"][0]["url"] == svc.url
    assert set(doc["paths"]["/api/v1/tasks/{task_id}"]) >= {"get", "put", "patch", "delete"}
    assert openapi_document()["paths"].keys() == doc["paths"].keys()


def test_data_survive_a_restart(tmp_path):
    db = tmp_path / "keep.db"
    with servers.serve(create_app(db), name="first") as s:
        loc = requests.post(s.url + "/api/v1/tasks", json={"title": "persist me"}, timeout=5).headers["Location"]
        requests.delete(s.url + "/api/v1/tasks/1", timeout=5)
    with servers.serve(create_app(db), name="second") as s:  # same file: no re-seeding
        assert requests.get(s.url + loc, timeout=5).json()["title"] == "persist me"
        assert requests.get(s.url + "/api/v1/tasks/1", timeout=5).status_code == 404
        assert requests.get(s.url + "/health", timeout=5).json()["tasks"] == len(SEED_TASKS)


def test_memory_and_temporary_databases_are_separate():
    a, b = create_app(), create_app(":memory:", seed=False)
    with servers.serve(a, name="a") as sa, servers.serve(b, name="b") as sb:
        requests.post(sb.url + "/api/v1/tasks", json={"title": "only in b"}, timeout=5)
        requests.post(sb.url + "/api/v1/tasks", json={"title": "still in b"}, timeout=5)
        assert requests.get(sb.url + "/health", timeout=5).json()["tasks"] == 2
        assert requests.get(sa.url + "/health", timeout=5).json()["tasks"] == len(SEED_TASKS)


def test_runs_as_a_program_and_stops_on_sigterm(tmp_path):
    port = servers.free_port()
    db = tmp_path / "prog.db"
    server = servers.serve_process([sys.executable, "-m", "helpers.services.tasks", "--port", str(port),
                                    "--db", str(db), "--no-seed"], name="tasks-program", port=port,
                                   cwd=str(ROOT), env={"WORKBOOK_NO_SWEEP": "1"})
    try:
        url = f"{server.url}/api/v1/tasks"
        assert requests.get(url, timeout=5).json() == []
        assert requests.post(url, json={"title": "t"}, timeout=5).status_code == 201
        os.kill(server.process.pid, signal.SIGTERM)
        assert server.process.wait(5) == 0  # exits promptly (matters as PID 1 in a container)
    finally:
        server.stop()
    assert db.exists()


def test_tasks_db_environment_variable_selects_the_database(tmp_path, monkeypatch):
    from flask import Flask

    from helpers.services.tasks import __main__ as program
    seen = {}
    monkeypatch.setenv("TASKS_DB", str(tmp_path / "env.db"))
    monkeypatch.setattr(Flask, "run", lambda self, **kw: seen.update(kw, db=self.config["TASKS_DB"]))
    monkeypatch.setattr(program.signal, "signal", lambda *a: None)
    program.main(["--port", "5055"])
    assert seen["db"] == str(tmp_path / "env.db") and seen["port"] == 5055 and seen["host"] == "127.0.0.1"
    assert (tmp_path / "env.db").exists()


def test_bad_database_paths_are_one_sentence(tmp_path):
    from helpers import WorkbookError
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("this is not SQLite " * 100)
    with pytest.raises(WorkbookError, match="Cannot use .* as the tasks database"):
        create_app(not_a_db)
    with pytest.raises(WorkbookError, match="is a folder"):
        create_app(tmp_path)
    with pytest.raises(WorkbookError, match="Cannot create the folder"):
        create_app("/proc/no-such-dir/tasks.db")


def test_package_into_copies_the_service_and_what_it_imports(tmp_path):
    from helpers.services.tasks import package_into

    package = package_into(tmp_path)
    copied = sorted(str(p.relative_to(package)) for p in package.rglob("*.py"))
    assert copied == ["__init__.py", "core/__init__.py", "core/errors.py", "services/__init__.py",
                      "services/tasks/__init__.py", "services/tasks/__main__.py", "services/tasks/app.py",
                      "services/tasks/openapi.py", "services/tasks/packaging.py",
                      "services/tasks/representations.py", "services/tasks/store.py",
                      "services/tasks/validation.py"]
    assert "import" not in (package / "__init__.py").read_text()  # a stub, not the workbook's __init__


def test_the_build_context_runs_the_service_by_itself(tmp_path):
    """What the image runs, run from the copied folder: `python -m helpers.services.tasks` answers HTTP."""
    from helpers.services.tasks import package_into

    package_into(tmp_path)
    found = subprocess.run([sys.executable, "-c", "import helpers.services.tasks as t; print(t.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True)
    assert Path(found.stdout.strip()).is_relative_to(tmp_path)  # the copy, not the workbook
    port = servers.free_port()
    server = servers.serve_process([sys.executable, "-m", "helpers.services.tasks", "--port", str(port),
                                    "--db", str(tmp_path / "ctx.db")], name="tasks-context", port=port,
                                   cwd=str(tmp_path))
    try:
        r = requests.get(f"{server.url}/api/v1/tasks", timeout=5)
        assert r.status_code == 200 and len(r.json()) == len(SEED_TASKS)  # the built-in seed: no data/ folder there
    finally:
        server.stop()


# --------------------------------------------------------------------------- conditional requests (ETag)

def _etag(r):
    tag = r.headers["ETag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/"), tag  # strong, quoted
    return tag


def test_etags_are_strong_stable_and_differ_per_representation(svc):
    one = svc.api + "/1"
    tag = _etag(requests.get(one, timeout=5))
    assert _etag(requests.get(one, timeout=5)) == tag  # nothing changed: the same tag
    xml = _etag(requests.get(one, headers={"Accept": "application/xml"}, timeout=5))
    page = _etag(requests.get(one, headers={"Accept": "text/html"}, timeout=5))
    assert len({tag, xml, page}) == 3  # different bytes, different strong tags
    listing = requests.get(svc.api, timeout=5)
    assert _etag(listing) == _etag(requests.get(svc.api, timeout=5)) != tag
    assert _etag(requests.get(svc.api, params={"done": "false"}, timeout=5)) != _etag(listing)
    assert _etag(requests.get(svc.api, params={"sort": "-id"}, timeout=5)) != _etag(listing)
    assert _etag(requests.get(svc.api, headers={"Accept": "application/xml"}, timeout=5)) != _etag(listing)


def test_writes_answer_the_etag_of_what_they_stored(svc):
    created = requests.post(svc.api, json={"title": "tagged"}, timeout=5)
    url = svc.url + created.headers["Location"]
    assert _etag(created) == _etag(requests.get(url, timeout=5))
    put = requests.put(url, json={"title": "tagged again"}, timeout=5)
    assert _etag(put) != _etag(created) and _etag(put) == _etag(requests.get(url, timeout=5))
    patch = requests.patch(url, json={"done": True}, timeout=5)
    assert _etag(patch) != _etag(put) and _etag(patch) == _etag(requests.get(url, timeout=5))
    same = requests.patch(url, json={"done": True}, timeout=5)  # changes nothing: the representation is the same
    assert _etag(same) == _etag(patch)


def test_if_none_match_answers_304_without_a_body(svc):
    one = svc.api + "/1"
    full = requests.get(one, timeout=5)
    tag = _etag(full)
    for value in (tag, f'"stale", {tag}', "W/" + tag, "*"):  # If-None-Match compares weakly; * matches
        r = requests.get(one, headers={"If-None-Match": value}, timeout=5)
        assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == tag, value
        assert "Content-Type" not in r.headers and "Accept" in r.headers["Vary"]
    assert requests.head(one, headers={"If-None-Match": tag}, timeout=5).status_code == 304
    other = requests.get(one, headers={"If-None-Match": '"an-old-version"'}, timeout=5)
    assert other.status_code == 200 and other.json() == full.json()
    as_xml = requests.get(one, headers={"If-None-Match": tag, "Accept": "application/xml"}, timeout=5)
    assert as_xml.status_code == 200 and as_xml.text.startswith("<?xml")  # the JSON's tag is not the XML's
    listing = requests.get(svc.api, timeout=5)
    r = requests.get(svc.api, headers={"If-None-Match": _etag(listing)}, timeout=5)
    assert r.status_code == 304 and r.content == b"" and r.headers["X-Total-Count"] == listing.headers["X-Total-Count"]
    requests.patch(one, json={"title": "changed"}, timeout=5)
    assert requests.get(one, headers={"If-None-Match": tag}, timeout=5).status_code == 200


def test_collection_etag_changes_with_any_task_in_it(svc):
    listing = lambda **p: _etag(requests.get(svc.api, params=p, timeout=5))
    before, page = listing(), listing(limit=2)
    url = svc.url + requests.post(svc.api, json={"title": "one more"}, timeout=5).headers["Location"]
    after_post = listing()
    assert after_post != before
    assert listing(limit=2) != page  # the first page shows the same tasks, but X-Total-Count grew
    requests.patch(url, json={"priority": "high"}, timeout=5)
    after_patch = listing()
    assert after_patch != after_post
    requests.delete(url, timeout=5)
    assert listing() not in (after_patch, after_post) and listing() == before  # the same tasks as before: same tag


@pytest.mark.parametrize("method, body", [("PUT", {"title": "alice's title"}), ("PATCH", {"done": True}),
                                          ("DELETE", None)])
def test_if_match_refuses_a_stale_etag_with_412(svc, method, body):
    url = svc.url + requests.post(svc.api, json={"title": "shared"}, timeout=5).headers["Location"]
    stale = _etag(requests.get(url, timeout=5))
    fresh = _etag(requests.patch(url, json={"description": "someone else's change"}, timeout=5))
    kwargs = {"json": body} if body is not None else {}
    for tag in (stale, "W/" + fresh, '"made-up"', ""):  # If-Match compares strongly: a weak tag never matches
        r = requests.request(method, url, headers={"If-Match": tag}, timeout=5, **kwargs)
        assert r.status_code == 412 and r.headers["Content-Type"] == "application/json", tag
        error = r.json()
        assert error["status"] == 412 and error["error"] == "Precondition Failed" and fresh in error["message"]
    assert requests.get(url, timeout=5).json()["description"] == "someone else's change"  # nothing was lost
    # a stale tag is a 412 before the body is looked at
    assert requests.request(method, url, headers={"If-Match": stale}, data="{oops", timeout=5).status_code == 412
    r = requests.request(method, url, headers={"If-Match": f'{stale}, {fresh}'}, timeout=5, **kwargs)
    assert r.status_code == (204 if method == "DELETE" else 200)
    if method != "DELETE":
        assert _etag(r) not in (stale, fresh) and _etag(r) == _etag(requests.get(url, timeout=5))
    else:
        assert requests.get(url, timeout=5).status_code == 404
        assert requests.delete(url, headers={"If-Match": "*"}, timeout=5).status_code == 404  # 404 before 412


@pytest.mark.parametrize("method, body", [("PUT", {"title": "anyway"}), ("PATCH", {"done": True}), ("DELETE", None)])
def test_if_match_star_and_no_if_match_proceed(svc, method, body):
    kwargs = {"json": body} if body is not None else {}
    expected = 204 if method == "DELETE" else 200
    for headers in ({"If-Match": "*"}, {}):
        url = svc.url + requests.post(svc.api, json={"title": "any"}, timeout=5).headers["Location"]
        requests.patch(url, json={"description": "changed meanwhile"}, timeout=5)
        assert requests.request(method, url, headers=headers, timeout=5, **kwargs).status_code == expected


def test_if_match_accepts_the_etag_of_any_representation(svc):
    one = svc.api + "/2"
    as_xml = requests.get(one, headers={"Accept": "application/xml"}, timeout=5)
    r = requests.patch(one, json={"priority": "high"}, headers={"If-Match": _etag(as_xml)}, timeout=5)
    assert r.status_code == 200 and r.json()["priority"] == "high"


def test_concurrent_updates_with_one_etag_let_exactly_one_through(svc):
    from concurrent.futures import ThreadPoolExecutor

    url = svc.url + requests.post(svc.api, json={"title": "contended"}, timeout=5).headers["Location"]
    tag = _etag(requests.get(url, timeout=5))
    put = lambda n: requests.put(url, json={"title": f"writer {n}"}, headers={"If-Match": tag}, timeout=10).status_code
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(put, range(8)))
    assert statuses == [200] + [412] * 7


def test_store_check_runs_inside_the_write_transaction(tmp_path):
    from helpers.services.tasks import TaskStore

    store = TaskStore(tmp_path / "s.db")

    def refuse(task):
        assert task["id"] == 1
        raise RuntimeError("no")

    for attempt in (lambda: store.update(1, {"title": "x"}, check=refuse),
                    lambda: store.replace(1, {"title": "x"}, check=refuse),
                    lambda: store.delete(1, check=refuse)):
        with pytest.raises(RuntimeError):
            attempt()
    assert store.get(1)["title"] == SEED_TASKS[0]["title"]
    assert store.update(999, {"title": "x"}, check=refuse) is None and store.delete(999, check=refuse) is False
    assert store.update(1, {"done": False}, check=lambda task: None)["done"] is False
