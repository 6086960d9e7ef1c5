"""helpers.orchestration.swarm against the real engine: swarm mode is left as it was found."""

from __future__ import annotations

import time

import pytest
import requests

from helpers.containers import engine
from helpers.core import session
from helpers.orchestration import swarm

pytestmark = pytest.mark.docker


def _create(base: str, replicas: int):
    """The service of notebook 13, made as its cell makes it (SDK), published in host mode."""
    from docker.types import EndpointSpec, RestartPolicy, ServiceMode

    from helpers.containers.base_images import ensure_image

    ensure_image("python", quiet=True)
    return engine.client().services.create(
        "python:latest", ["python3", "-c", swarm.SERVER], name=session.resource_name(base), env=["VERSION=1"],
        labels=session.labels(), container_labels=session.labels(), mode=ServiceMode("replicated", replicas=replicas),
        endpoint_spec=EndpointSpec(mode="dnsrr", ports=[{"Protocol": "tcp", "TargetPort": swarm.SERVICE_PORT,
                                                          "PublishMode": "host"}]),
        restart_policy=RestartPolicy(condition="any", delay=500_000_000), stop_grace_period=1_000_000_000)


def _scale(service, n: int):
    """``docker service scale NAME=n``, as notebook 13 runs it."""
    import subprocess

    subprocess.run(["docker", "service", "scale", "--detach", f"{service.name}={n}"], check=True,
                   capture_output=True, timeout=60)
    return swarm.wait_converged(service)


def _update(service, version: str, delay: float = 1.0):
    """Notebook 13's rolling update (SDK)."""
    from docker.types import UpdateConfig

    service.reload()
    service.update(env=[f"VERSION={version}"],
                   update_config=UpdateConfig(parallelism=1, delay=int(delay * 1e9), order="start-first",
                                              failure_action="rollback", monitor=1_000_000_000))


def _kill_one(service):
    victim = sorted(swarm.task_containers(service), key=lambda c: c.name)[0]
    victim.kill()
    return victim.name


@pytest.fixture(scope="module")
def service():
    before = swarm.node_state()
    swarm.ensure_swarm()
    svc = _create("t-swarm", replicas=2)
    swarm.wait_ready(svc)
    yield svc
    swarm.CLEANER.remove(session.SESSION_ID)
    assert swarm.node_state() == before, "swarm mode was not left as it was found"
    assert not swarm.CLEANER.leftovers(session.SESSION_ID)


def test_service_is_labelled_and_published(service):
    assert service.attrs["Spec"]["Labels"][session.SESSION_LABEL] == session.SESSION_ID
    urls = swarm.wait_ready(service)
    assert len(urls) == 2
    answers = [requests.get(u, timeout=5).json() for u in urls]
    assert all(a["version"] == "1" for a in answers)


def test_scale_up_and_down(service):
    before = {c.id for c in swarm.task_containers(service)}
    assert _scale(service, 3) == (3, 3)
    time.sleep(2)  # a spurious rolling update (as the SDK's Service.scale causes) would replace tasks meanwhile
    after = {c.id for c in swarm.task_containers(service)}
    assert before < after and len(after) == 3, "scaling up must add a task and replace none"
    assert _scale(service, 2) == (2, 2)


def test_killed_replica_is_replaced(service):
    samples = swarm.record(service, seconds=6, interval=0.2, actions={0.5: lambda: _kill_one(service)})
    assert samples[0]["ids"] != samples[-1]["ids"]
    assert samples[-1]["running"] == samples[-1]["desired"] == 2
    seconds = swarm.replacement_time(samples)
    assert seconds is not None and 0 < seconds < 6


def test_rolling_update_reaches_the_new_version(service):
    samples = swarm.record(service, seconds=1, actions={0.2: lambda: _update(service, "2")})
    from helpers.core.errors import wait_for
    wait_for(lambda: swarm.update_state(service) == "completed", timeout=60, what="the update")
    samples += swarm.record(service, seconds=0.5)
    assert samples[-1]["versions"] == {"2": 2}
    assert all(requests.get(u, timeout=5).json()["version"] == "2" for u in swarm.wait_ready(service))


def test_a_start_first_update_replaces_one_task_at_a_time(service):
    """With the notebook's settings the chart shows what the text says: one new task beside the old
    one it replaces (never two extra), the running count never below the desired one, and the old
    tasks end at once on SIGTERM (exit 0) instead of waiting for SIGKILL (137)."""
    from helpers.core.errors import wait_for

    _scale(service, 2)
    old_tasks = [c.id for c in swarm.task_containers(service)]
    version = str(int(time.time()))
    samples = swarm.record(service, seconds=1.0, interval=0.2,
                           actions={0.2: lambda: _update(service, version, delay=2.0) or "update"},
                           until=lambda: swarm.update_state(service) == "completed")
    wait_for(lambda: swarm.update_state(service) == "completed", timeout=60, what="the update")
    u = swarm.update_summary(samples)
    assert u["version"] == version and u["desired"] == 2
    assert u["max_running"] == 3 and u["most_new_at_once"] == 1, samples
    assert u["min_running"] >= 2, samples
    text = swarm.describe_update(samples)
    assert "At most 3 containers ran for 2 desired (one new task" in text and "never fell below 2" in text
    codes = set()
    for cid in old_tasks:
        try:
            codes.add(engine.client().containers.get(cid).attrs["State"]["ExitCode"])
        except Exception:
            pass  # already pruned from the task history
    assert codes <= {0}, f"old tasks were killed, not stopped: exit codes {codes}"


def _sample(t, running, versions, event=None, desired=3):
    return {"t": t, "desired": desired, "running": running, "versions": versions, "event": event, "ids": []}


def test_describe_update_says_what_the_samples_show():
    smooth = [_sample(0, 3, {"1": 3}, "update"), _sample(1, 4, {"1": 3, "2": 1}), _sample(2, 3, {"1": 2, "2": 1}),
              _sample(3, 4, {"1": 2, "2": 2}), _sample(4, 3, {"1": 1, "2": 2}), _sample(5, 4, {"1": 1, "2": 3}),
              _sample(6, 3, {"2": 3}), _sample(7, 3, {"2": 3})]
    text = swarm.describe_update(smooth)
    assert text == ("The update to VERSION=2 took 6.0 s. At most 4 containers ran for 3 desired (one new task "
                    "beside the old one it replaces, 3.0 s in all); the running count never fell below 3.")
    rough = [_sample(0, 3, {"1": 3}, "update"), _sample(1, 5, {"1": 3, "2": 2}), _sample(2, 2, {"1": 0, "2": 2}),
             _sample(3, 3, {"2": 3})]
    text = swarm.describe_update(rough)
    assert "2 more than desired at once" in text and "fell to 2 for 1.0 s" in text


def test_check_scaled_passes_and_fails(service):
    _scale(service, 2)
    verdict = swarm.check_scaled(service, 3)
    # Not passed, with the command as hint: "not yet", or "not attempted yet" when the scale to 2 was
    # no change of the count (the service already had 2 from an earlier test).
    assert not verdict and ("NOT YET" in str(verdict) or "NOT ATTEMPTED YET" in str(verdict))
    assert f"docker service scale {service.name}=3" in str(verdict)
    _scale(service, 3)
    assert swarm.check_scaled(service, 3)
    _scale(service, 1)
    assert not swarm.check_scaled(service, 3)
    _scale(service, 2)
