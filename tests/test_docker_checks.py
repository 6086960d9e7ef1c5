"""Every exercise checker, with a correct solution and several wrong ones, on the real engine."""

from __future__ import annotations

import pytest

import helpers
from helpers.containers import checks as K
from helpers.containers import engine
from helpers.containers.base_images import ensure_image
from helpers.core.session import labels, resource_name
from helpers.core.errors import wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def _images():
    for image in ("debian", "nginx"):
        ensure_image(image, quiet=True)


def _run(image, command=None, *, base, **kw):
    """client.containers.run(..., detach=True), labelled and named as a notebook's cell writes it."""
    return engine.client().containers.run(image, command, detach=True, name=resource_name(base), labels=labels(), **kw)


@pytest.fixture(autouse=True)
def _clean():
    helpers.cleanup(quiet=True)  # each case starts from an empty session
    K._BEGAN.clear()
    yield
    K._BEGAN.clear()
    helpers.cleanup(quiet=True)


def _failures(v) -> str:
    return " ".join(text for ok, text in v.items if ok is False)


# --- check_greeter ------------------------------------------------------------------------

LOOP = 'while true; do echo "$GREETING"; sleep 0.2; done'


def _greeter(env=None, command=LOOP, pause=True, image="debian"):
    c = _run(image, ["sh", "-c", command], base="greeter", environment=env or {})
    if command == LOOP:
        wait_for(lambda: c.logs().decode().count("\n") >= 2, timeout=10, what="two greetings")
    else:
        c.wait(timeout=10)
    c.reload()
    if pause and c.status == "running":
        c.pause()
    return c


def test_greeter_correct():
    _greeter({"GREETING": "hola"})
    v = K.check_greeter(resource_name("greeter"))
    assert v.passed, str(v)
    assert "PASSED" in str(v) and "PASSED" in v._repr_html_()


def test_greeter_missing():
    v = K.check_greeter(resource_name("greeter"))
    assert not v.passed and not v.attempted and "no container called" in _failures(v)
    assert "NOT ATTEMPTED" in str(v) and "name=GREETER" in str(v)


def test_greeter_literal_variable_is_not_expanded():
    """["echo", "$GREETING"] has no shell: the container prints the text $GREETING."""
    c = _run("debian", ["echo", "$GREETING"], base="greeter", environment={"GREETING": "hola"})
    c.wait(timeout=10)
    v = K.check_greeter(resource_name("greeter"))
    assert not v.passed and "does not contain the greeting" in _failures(v)
    assert "inside the container's shell" in str(v)


def test_checks_return_the_shared_verdict():
    from helpers.core.verdict import Verdict

    assert isinstance(K.check_greeter(resource_name("greeter")), Verdict) and K.Verdict is Verdict


def test_greeter_not_paused():
    _greeter({"GREETING": "hola"}, pause=False)
    v = K.check_greeter(resource_name("greeter"))
    assert not v.passed and "running" in _failures(v)


def test_greeter_wrong_variable():
    _greeter({"GREETING": "hello"})
    v = K.check_greeter(resource_name("greeter"))
    assert not v.passed and "another value" in _failures(v)


def test_greeter_value_from_another_variable_is_not_praised():
    c = _run("debian", ["sh", "-c", LOOP.replace("GREETING", "GREETNG")], base="greeter",
             environment={"GREETNG": "hola"})
    wait_for(lambda: c.logs().decode().count("\n") >= 2, timeout=10, what="two greetings")
    c.pause()
    v = K.check_greeter(resource_name("greeter"))
    assert not v.passed and "no variable GREETING" in _failures(v)
    assert not any(ok and "reads the variable" in t for ok, t in v.items)


def test_greeter_command_ends():
    _greeter({"GREETING": "hola"}, command='echo "$GREETING"')
    v = K.check_greeter(resource_name("greeter"))
    fails = _failures(v)
    assert not v.passed and "exited" in fails and "only 1 time" in fails


# --- check_web_server ----------------------------------------------------------------------

@pytest.fixture
def port():
    return helpers.core.servers.free_port()


def test_web_server_correct(port):
    _run("nginx", base="web", ports={"80/tcp": ("127.0.0.1", port)})
    v = K.check_web_server(port)
    assert v.passed, str(v)


def test_web_server_on_all_interfaces_passes_with_a_note(port):
    _run("nginx", base="web", ports={"80/tcp": port})
    v = K.check_web_server(port)
    assert v.passed and any(ok is None and "every interface" in t for ok, t in v.items)


def test_web_server_nothing_running(port):
    v = K.check_web_server(port)
    assert not v.passed and not v.attempted and "no container created since" in _failures(v)


def test_web_server_of_the_lesson_does_not_pass_the_exercise(port):
    """A container created before the exercise began (a demonstration's) is not the solution."""
    _run("nginx", base="demo", ports={"80/tcp": ("127.0.0.1", port)})
    K.begin_exercise("web_server")
    v = K.check_web_server(port)
    assert not v.passed and not v.attempted
    assert any(ok is None and "before the exercise began" in t for ok, t in v.items)
    engine.client().containers.get(resource_name("demo")).remove(force=True)
    _run("nginx", base="site", ports={"80/tcp": ("127.0.0.1", port)})
    assert K.check_web_server(port).passed


def test_web_server_newest_running_container_is_judged(port):
    """An exited earlier attempt that still holds the port in its configuration is not the one judged."""
    old = engine.client().containers.create("debian", ["true"], name=resource_name("try1"), ports={"80/tcp": ("127.0.0.1", port)}, labels=labels())
    old.start()
    old.wait(timeout=10)
    _run("nginx", base="try2", ports={"80/tcp": ("127.0.0.1", port)})
    v = K.check_web_server(port)
    assert v.passed, str(v)


def test_web_server_not_published(port):
    _run("nginx", base="web")
    v = K.check_web_server(port)
    assert not v.passed and "publishes a port" in _failures(v)


def test_web_server_wrong_host_port(port):
    _run("nginx", base="web", ports={"80/tcp": ("127.0.0.1", None)})
    v = K.check_web_server(port)
    assert not v.passed and "No container publishes host port" in _failures(v)


def test_web_server_wrong_container_port(port):
    _run("nginx", base="web", ports={"8080/tcp": ("127.0.0.1", port)})
    v = K.check_web_server(port, timeout=2)
    assert not v.passed and "Nothing answers" in _failures(v) and "80/tcp" in _failures(v)


def test_web_server_image_without_server(port):
    _run("debian", ["sleep", "infinity"], base="web", ports={"80/tcp": ("127.0.0.1", port)})
    v = K.check_web_server(port, timeout=1)
    fails = _failures(v)
    assert not v.passed and "declares no port" in fails  # -p 80 must not look like the image's EXPOSE


def test_web_server_exited(port):
    c = engine.client().containers.create("debian", ["true"], name=resource_name("web"),
                                          ports={"80/tcp": ("127.0.0.1", port)}, labels=labels())
    c.start()
    c.wait(timeout=10)
    v = K.check_web_server(port)
    assert not v.passed and "exited" in _failures(v)


def test_exercise_port_prefers_the_given_one():
    import socket

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert K.exercise_port(taken) != taken
    free = helpers.core.servers.free_port()
    assert K.exercise_port(free) == free


# --- check_name_resolution --------------------------------------------------------------------

def _network(base):
    """client.networks.create, as notebook 10's solution writes it."""
    return engine.client().networks.create(resource_name(base), driver="bridge", labels=labels())


def _sleeper(base, **kw):
    return _run("debian", ["sleep", "infinity"], base=base, **kw)


def test_resolution_correct():
    net = _network("exnet")
    _sleeper("a", network=net.name)
    _sleeper("b", network=net.name)
    v = K.check_name_resolution()
    assert v.passed, str(v)


def test_resolution_of_the_lesson_does_not_pass_the_exercise():
    net = _network("demo-net")
    _sleeper("c3", network=net.name)
    _sleeper("c4", network=net.name)
    K.begin_exercise("name_resolution")
    v = K.check_name_resolution()
    assert not v.passed and not v.attempted and "Only what was created since" in str(v)
    team = _network("team")
    _sleeper("alice", network=team.name)
    _sleeper("bob", network=team.name)
    assert K.check_name_resolution().passed


def test_resolution_default_bridge_only():
    _sleeper("a")
    _sleeper("b")
    v = K.check_name_resolution()
    assert not v.passed and "default bridge" in _failures(v)


def test_resolution_different_networks():
    n1, n2 = _network("exnet1"), _network("exnet2")
    _sleeper("a", network=n1.name)
    _sleeper("b", network=n2.name)
    v = K.check_name_resolution()
    assert not v.passed and "1 running container" in _failures(v)


def test_resolution_second_container_ended():
    net = _network("exnet")
    _sleeper("a", network=net.name)
    c = _run("debian", ["true"], base="b", network=net.name)
    c.wait(timeout=10)
    v = K.check_name_resolution()
    assert not v.passed and "stopped" in _failures(v)
