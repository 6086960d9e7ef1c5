"""helpers.consuming: the slow service and the notebook-06 checker."""

import pytest
import requests

from helpers import consuming, servers


def test_slow_app_times_out_for_real():
    s = servers.serve(consuming.create_slow_app(), name="t-slow")
    try:
        with pytest.raises(requests.Timeout):
            requests.get(s.url + "/slow", params={"seconds": 1}, timeout=0.3)
        assert requests.get(s.url + "/fast", timeout=2).json() == {"slept": 0}
        assert requests.get(s.url + "/slow?seconds=x", timeout=2).status_code == 400
    finally:
        s.stop()


def create_task(base, title):
    r = requests.post(f"{base}/tasks", json={"title": title}, timeout=5)
    r.raise_for_status()
    return r.json()["id"]


def complete_task(base, task_id):
    r = requests.patch(f"{base}/tasks/{task_id}", json={"done": True}, timeout=5)
    r.raise_for_status()
    return r.json()


def test_checker_right_and_wrong():
    assert consuming.check_tasks_client(create_task, complete_task) is True
    sloppy = lambda base, task_id: requests.patch(f"{base}/tasks/{task_id}", json={"done": True}).json()
    assert consuming.check_tasks_client(create_task, sloppy) is False
    assert consuming.check_tasks_client(lambda b, t: str(create_task(b, t)), complete_task) is False


def test_checker_catches_a_missing_timeout_and_a_lost_title():
    no_timeout = lambda base, title: requests.post(f"{base}/tasks", json={"title": title}).json()["id"]
    assert consuming.check_tasks_client(no_timeout, complete_task) is False

    def put_done(base, task_id):  # PUT replaces the whole task: the title is lost or the request refused
        r = requests.put(f"{base}/tasks/{task_id}", json={"done": True}, timeout=5)
        r.raise_for_status()
        return r.json()
    assert consuming.check_tasks_client(create_task, put_done) is False


def test_checker_needs_two_functions():
    from helpers.errors import WorkbookError
    with pytest.raises(WorkbookError, match="two functions"):
        consuming.check_tasks_client(create_task, None)


def test_compare_session_counts_tcp_connections():
    import sys
    from helpers import tasks_service
    from helpers.errors import WorkbookError
    dev = servers.serve(tasks_service.create_app(), name="t-session-dev")
    port = servers.free_port()
    prod = servers.serve_process([sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}",
                                  "--call", "helpers.tasks_service:create_app"], name="t-session-waitress", port=port,
                                 env={"WORKBOOK_NO_SWEEP": "1"})
    try:
        closing = consuming.compare_session(dev.url + "/api/v1/tasks/1", 10)
        assert closing["connection_header"] == "close"
        assert closing["bare_connections"] == 10 and closing["session_connections"] == 10
        alive = consuming.compare_session(prod.url + "/api/v1/tasks/1", 10)
        assert alive["bare_connections"] == 10 and alive["session_connections"] == 1
        assert alive["bare_ms"] > 0 and alive["session_ms"] > 0
    finally:
        dev.stop()
        prod.stop()
    with pytest.raises(WorkbookError, match="is the server running"):
        consuming.compare_session(dev.url + "/api/v1/tasks/1", 1)
