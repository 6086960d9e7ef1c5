"""The reference tasks service, driven over real HTTP (helpers.servers.serve)."""

import json
import os
import signal
import sys
from pathlib import Path

import pytest
import requests

from helpers import servers
from helpers.tasks_service import SEED_TASKS, create_app, openapi_document, seed_tasks

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
    server = servers.serve_process([sys.executable, "-m", "helpers.tasks_service", "--port", str(port),
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
    from helpers import tasks_service
    seen = {}
    monkeypatch.setenv("TASKS_DB", str(tmp_path / "env.db"))
    monkeypatch.setattr(tasks_service.Flask, "run", lambda self, **kw: seen.update(kw, db=self.config["TASKS_DB"]))
    monkeypatch.setattr(tasks_service.signal, "signal", lambda *a: None)
    tasks_service.main(["--port", "5055"])
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
    from helpers.tasks_service import package_into

    package = package_into(tmp_path)
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "errors.py", "tasks_service.py"]
