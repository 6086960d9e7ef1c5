"""Progress: verdicts recorded in the work folder, a student's table, a class's table and plot;
and the proxied URL of a server under a JupyterHub."""

from __future__ import annotations

import json

from helpers.core import progress, servers
from helpers.core.verdict import Verdict


def check_greeter():  # named like the workbook's check of notebook 09
    v = Verdict("Exercise: a paused greeter")
    v.ok("it is paused")
    return v


def test_every_exercise_of_the_workbook_is_listed():
    found = progress.exercises()
    assert len(found) >= 16
    assert any(ex.notebook.startswith("09") and ex.check == "check_greeter" for ex in found)
    assert len({ex.key for ex in found}) == len(found)


def test_a_shown_verdict_is_recorded_once_and_makes_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_WORK", str(tmp_path))
    v = check_greeter()
    assert v.check == "check_greeter"
    v._repr_mimebundle_()
    v._repr_mimebundle_()
    lines = (tmp_path / "progress.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["passed"] is True
    failing = Verdict("x", check="check_greeter")
    failing.fail("not paused")
    progress.record(failing)
    table = progress.progress()
    row = table.rows["09:check_greeter"]
    assert row["state"] == "not yet" and row["attempts"] == 2 and row["ever_passed"]
    assert "0 of" in str(table) and "<table>" in table._repr_html_()


def test_a_class_of_folders_makes_one_table_and_a_plot(tmp_path, monkeypatch):
    for student, passed in (("ann", True), ("ben", False)):
        monkeypatch.setenv("WORKBOOK_WORK", str(tmp_path / "class" / student))
        v = Verdict("t", check="check_greeter")
        v.add(passed, "criterion")
        progress.record(v, notebook="09-containers-and-docker")
    (tmp_path / "class" / "cid").mkdir()  # a student who has run nothing
    (tmp_path / "class" / "ben" / "progress.jsonl").open("a").write("{cut short\n")
    png = tmp_path / "class.png"
    assert progress.main(["class", str(tmp_path / "class"), "--png", str(png)]) == 0
    assert png.stat().st_size > 1000
    table = progress.class_table(progress.class_folders(tmp_path / "class"))
    assert table["ann"]["09:check_greeter"]["state"] == "passed"
    assert table["ben"]["09:check_greeter"]["state"] == "not yet"
    assert table["cid"]["09:check_greeter"]["state"] == "not run"


def test_browser_url_on_a_host_and_under_a_hub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL", raising=False)
    assert servers.browser_url(5000) == "http://127.0.0.1:5000/"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    assert servers.browser_url(5000, "api/v1") == "/user/alice/proxy/5000/api/v1"
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
    assert servers.browser_url(5000) == "https://hub.example.org/user/alice/proxy/5000/"
    s = servers.Server("demo", "127.0.0.1", 5000)
    assert "/user/alice/proxy/5000/" in repr(s)
