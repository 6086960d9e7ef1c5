"""helpers.services.consuming: the slow service and the notebook-06 checker."""

import pytest
import requests

from helpers.services import consuming
from helpers.core import servers


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
    verdict = consuming.check_tasks_client(create_task, complete_task)
    assert verdict, str(verdict)
    sloppy = lambda base, task_id: requests.patch(f"{base}/tasks/{task_id}", json={"done": True}).json()
    verdict = consuming.check_tasks_client(create_task, sloppy)
    assert not verdict and "raise_for_status()" in str(verdict)
    verdict = consuming.check_tasks_client(lambda b, t: str(create_task(b, t)), complete_task)
    assert not verdict and "returns the new id as an int" in str(verdict)


def test_checker_catches_a_missing_timeout_and_a_lost_title():
    no_timeout = lambda base, title: requests.post(f"{base}/tasks", json={"title": title}).json()["id"]
    verdict = consuming.check_tasks_client(no_timeout, complete_task)
    assert not verdict and "pass timeout=5 to every call" in str(verdict) and "still waiting" in str(verdict)

    def put_done(base, task_id):  # PUT replaces the whole task: the title is lost or the request refused
        r = requests.put(f"{base}/tasks/{task_id}", json={"done": True}, timeout=5)
        r.raise_for_status()
        return r.json()
    assert not consuming.check_tasks_client(create_task, put_done)


def test_functions_that_do_nothing_get_no_credit():
    def create_nothing(base_url, title):
        pass

    def complete_nothing(base_url, task_id):
        pass

    verdict = consuming.check_tasks_client(create_nothing, complete_nothing)
    assert not verdict and not verdict.attempted
    assert not any(ok for ok, _ in verdict.items), str(verdict)        # no ✔ line at all
    assert "gives up" not in str(verdict) and "server error" not in str(verdict)
    # create_task does nothing, complete_task works: the timeout is not credited to create_task
    verdict = consuming.check_tasks_client(create_nothing, complete_task)
    assert not verdict and verdict.attempted
    text = str(verdict)
    assert "create_task sent no request" in text and "✔ create_task gives up" not in text
    assert "create_task made no request to a service that never answers" in text


def test_the_timeout_is_credited_only_to_a_call_that_connected_and_gave_up():
    result = consuming._gives_up(lambda base, title: None, "x", patience=2)
    assert not result.connected and result.finished
    result = consuming._gives_up(create_task, "x", patience=10)
    assert result.connected and result.finished and "Timeout" in result.outcome


def test_checker_needs_two_functions():
    verdict = consuming.check_tasks_client(create_task, None)
    assert not verdict and not verdict.attempted and "two functions" in str(verdict)


def test_compare_session_counts_tcp_connections():
    import sys
    from helpers.services.tasks import create_app
    dev = servers.serve(create_app(), name="t-session-dev")
    port = servers.free_port()
    prod = servers.serve_process([sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}",
                                  "--call", "helpers.services.tasks:create_app"], name="t-session-waitress", port=port,
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
    with pytest.raises(requests.ConnectionError):  # the requests error itself: helpers.explain says it
        consuming.compare_session(dev.url + "/api/v1/tasks/1", 1)
