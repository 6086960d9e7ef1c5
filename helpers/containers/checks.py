"""Exercise checkers that look at the real Docker engine.

Each ``check_...`` inspects what the student's notebook session created and
returns a :class:`helpers.core.verdict.Verdict`: one line per thing checked, saying
what is right and, for what is wrong, a hint at what to look at, without giving
the solution.  A verdict displays itself (HTML in Jupyter, text elsewhere) and
never raises, so a notebook runs end to end whatever the student did.

The checks judge the student's work, not the session's history: after
:func:`begin_exercise` (notebook 10 calls it right before its exercises), a
check counts only the containers and networks created since, so nothing a
demonstration cell made earlier can pass it.

* :func:`check_greeter` (notebook 09): a detached, paused container with an environment variable.
* :func:`check_web_server` (notebook 10): a web server reachable from the host on a port.
* :func:`check_name_resolution` (notebook 10): two containers that resolve each other by name.
"""

from __future__ import annotations

import re
import socket
import time
from datetime import datetime

from helpers.containers import engine
from helpers.containers.networks import short
from helpers.core.errors import WorkbookError, explain
from helpers.core.verdict import Verdict

__all__ = ["Verdict", "begin_exercise", "exercise_port", "check_greeter", "check_web_server",
           "check_name_resolution"]

#: When each exercise began (seconds since the epoch), set by :func:`begin_exercise`.
_BEGAN: dict[str, float] = {}


def begin_exercise(*exercises: str) -> None:
    """From now on, the checks of ``exercises`` (``"web_server"``, ``"name_resolution"``; none
    named: all of them) count only the Docker objects created after this call."""
    now = time.time()
    for name in exercises or ("greeter", "web_server", "name_resolution"):
        _BEGAN[name] = now


def _created(obj) -> float:
    """When the engine created a container or a network (seconds since the epoch; 0 if unknown)."""
    text = str((obj.attrs or {}).get("Created", ""))
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return 0.0
    fraction = (m.group(2) or ".0")[:7]  # datetime takes microseconds at most
    zone = "+00:00" if m.group(3) in (None, "Z") else m.group(3)
    return datetime.fromisoformat(m.group(1) + fraction + zone).timestamp()


def _since(exercise: str, objects) -> tuple[list, list]:
    """``objects`` split into (created since ``exercise`` began, created before it)."""
    began = _BEGAN.get(exercise)
    if began is None:
        return list(objects), []
    new, old = [], []
    for o in objects:
        (new if _created(o) >= began else old).append(o)
    return new, old


def _session_containers():
    return engine.client().containers.list(all=True, filters=engine.session_filter(), ignore_removed=True)


def _daemon(v: Verdict) -> bool:
    try:
        engine.client()
        return True
    except WorkbookError as exc:
        v.fail(str(exc))
        return False


def _last_log_line(c) -> str:
    try:
        lines = c.logs(tail=3).decode(errors="replace").strip().splitlines()
    except Exception:
        return ""
    return lines[-1] if lines else ""


# --- notebook 09 ----------------------------------------------------------------------------

def check_greeter(container_name: str, *, variable: str = "GREETING", value: str = "hola",
                  image: str = "debian", min_lines: int = 2) -> Verdict:
    """A container called ``container_name``, from ``image``, started detached with
    ``variable=value`` in its environment, that has printed the value at least
    ``min_lines`` times, and is now paused."""
    v = Verdict(f"Exercise: a paused greeter container ({short(container_name)})")
    if not _daemon(v):
        return v
    import docker.errors

    try:
        c = engine.client().containers.get(container_name)
    except docker.errors.NotFound:
        others = ", ".join(short(c.name) for c in _session_containers()) or "none"
        return v.not_attempted(
            f"There is no container called {container_name!r} (this notebook's containers: {others}).",
            hint=f"Start one detached with exactly that name (name=GREETER), with {variable}={value} in its "
                 f"environment.")
    if not engine.owned(c):
        v.fail(f"{container_name} was not created by this notebook (no session label).",
               hint="Create it with labels=labels() (--label org.cloud-workbook.session=$WORKBOOK_SESSION on the "
                    "command line) so that it is this notebook's and is cleaned up.")
        return v
    if _BEGAN.get("greeter") and _created(c) < _BEGAN["greeter"]:
        return v.not_attempted(f"{short(c.name)} was created before the exercise began, so it is not your solution.",
                               hint="Run your solution cell again: it re-creates the container.")
    cfg = c.attrs["Config"]
    img = cfg.get("Image", "")
    v.add(img.split(":")[0] == image, f"It was created from the {image} image." if img.split(":")[0] == image
          else f"It was created from {img!r}, not from {image!r}.", hint=f"Run it from the {image} image.")
    env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
    env_ok = env.get(variable) == value
    if env_ok:
        v.ok(f"Its environment has {variable}={value}.")
    elif variable in env:
        v.fail(f"Its environment has {variable}={env[variable]!r}; the exercise asks for another value.",
               hint=f"Give {variable} the value the exercise names.")
    else:
        v.fail(f"Its environment has no variable {variable}.",
               hint="Look at how -e / environment= sets a variable.")
    started = not c.attrs["State"].get("StartedAt", "").startswith("0001")
    if not started:
        v.fail("It was created but never started.", hint="Start it (docker start), or create it with run.")
        return v
    text = c.logs().decode(errors="replace")
    count = sum(1 for line in text.splitlines() if value in line)
    if count >= min_lines and not env_ok:
        v.note(f"Its log shows {value!r} {count} times, but not from the variable {variable} of its "
               f"environment.")
    elif count >= min_lines:
        v.ok(f"Its log shows the greeting {count} times, so the command reads the variable and repeats.")
    elif count:
        v.fail(f"Its log shows the greeting only {count} time(s).",
               hint="The command should keep printing it (a loop with a pause), and the container must run "
                    "long enough.")
    else:
        first = text.strip().splitlines()[:1]
        v.fail("Its log does not contain the greeting"
               + (f" (it printed {first[0]!r})" if first else " (it printed nothing)") + ".",
               hint=f"Does the command print the variable {variable}, expanded inside the container's shell "
                    f"(sh -c '... ${variable} ...')?")
    status = c.status
    if status == "paused":
        v.ok("It is paused.")
    elif status == "running":
        v.fail("It is running; the exercise ends with it paused.", hint="Pause it (docker pause).")
    elif status == "exited":
        code = c.attrs["State"].get("ExitCode")
        v.fail(f"It has exited (code {code}).",
               hint="A container lives as long as its command, so the command must keep running (and the "
                    "container must be detached) before you can pause it.")
    else:
        v.fail(f"It is {status}, not paused.", hint="Pause it (docker pause).")
    return v


# --- notebook 10 ----------------------------------------------------------------------------

def exercise_port(preferred: int = 8080) -> int:
    """``preferred`` when this session can have it, else a free port (said in one sentence).

    A fixed host port exists once per machine: it is taken under a lease, so that two notebooks
    never both count on it; another program that holds it also sends the exercise elsewhere."""
    from helpers.core.leases import LeaseBusy, acquire, describe, holders, host_port

    resource = host_port(preferred)
    try:
        lease = acquire(resource, what=f"host port {preferred}", wait=0, progress=None)
    except LeaseBusy:
        lease = None
        who = ", ".join(describe(h) for h in holders(resource)) or "another session"
        reason = f"{who} holds it"
    if lease is not None:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                reason = f"another program on this machine listens on port {preferred}"
        lease.release()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    print(f"Port {preferred} is taken ({reason}), so this exercise uses port {port}: "
          f"publish your container there.")
    return port


def _bindings(c) -> dict[str, list[dict]]:
    """Published ports: actual ones if running, else the configured ones."""
    actual = (c.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    if any(actual.values()):
        return {k: v for k, v in actual.items() if v}
    return {k: v for k, v in ((c.attrs.get("HostConfig") or {}).get("PortBindings") or {}).items() if v}


def check_web_server(port: int = 8080, *, timeout: float = 8) -> Verdict:
    """A container of this notebook, created since the exercise began (:func:`begin_exercise`),
    publishes host port ``port`` and a web server answers ``GET /`` there from the host
    (http://127.0.0.1:PORT/)."""
    import requests

    v = Verdict(f"Exercise: a web server reachable from the host on port {port}")
    if not _daemon(v):
        return v
    conts, earlier = _since("web_server", _session_containers())

    def publishes(c):
        return [(cport, b) for cport, binds in _bindings(c).items() for b in binds if str(b.get("HostPort")) == str(port)]

    for c in earlier:
        if publishes(c):
            v.note(f"{short(c.name)} publishes port {port} but was created before the exercise began: it does "
                   f"not count.")
    if not conts:
        return v.not_attempted("This notebook has no container created since the exercise began.",
                               hint=f"Start one, detached, from an image that contains a web server, and publish "
                                    f"its port on host port {port}.")
    # the newest running container that publishes the port is the solution being checked
    matching = [(c, cport, b) for c in sorted(conts, key=lambda c: (c.status == "running", _created(c)), reverse=True)
                for cport, b in publishes(c)]
    if not matching:
        published = [(c, cport, b["HostPort"]) for c in conts for cport, binds in _bindings(c).items()
                     for b in binds]
        if published:
            desc = "; ".join(f"{short(c.name)} publishes {cport} on host port {hp}" for c, cport, hp in published)
            v.fail(f"No container publishes host port {port} ({desc}).",
                   hint="The host side of the mapping (-p HOST:CONTAINER) is the port the host uses.")
        else:
            running = [short(c.name) for c in conts if c.status == "running"]
            v.fail(f"None of this notebook's containers publishes a port to the host "
                   f"({', '.join(running) or 'none is even running'}).",
                   hint=f"Without publishing (-p / ports=), only the host's bridge and other containers reach "
                        f"it, not localhost:{port}.")
            if _port_taken(port):
                v.note(f"Something that is not a container of this notebook already listens on port {port}.")
        return v
    c, cport, bind = matching[0]
    v.ok(f"Container {short(c.name)} publishes container port {cport} on host port {port}.")
    if c.status != "running":
        code = c.attrs["State"].get("ExitCode")
        last = _last_log_line(c)
        v.fail(f"But it is {c.status}" + (f" (exit code {code})" if c.status == "exited" else "")
               + (f"; its last log line: {last!r}" if last else "") + ".",
               hint="A server container must keep running (detached).")
        return v
    host_ip = bind.get("HostIp") or "0.0.0.0"
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url, timeout=2)
            break
        except requests.RequestException:
            time.sleep(0.3)
    if answer is None:
        exposed = _image_ports(c)
        if not exposed:
            declared = f"its image {_image_of(c)} declares no port at all"
            hint = "Does the image contain a web server at all? Start one from an image that runs one."
        elif cport not in exposed:
            declared = f"its image {_image_of(c)} declares {', '.join(exposed)}"
            hint = "Map the host port to the port the server listens on (the container side of -p)."
        else:
            declared = f"its image {_image_of(c)} declares {cport}"
            hint = "Is the server started? Its logs (docker logs) say what it did."
        v.fail(f"Nothing answers HTTP at {url}: the mapping leads to container port {cport} ({declared}).", hint=hint)
        return v
    v.ok(f"{url} answered HTTP {answer.status_code} {answer.reason}.")
    if host_ip in ("0.0.0.0", "::", ""):
        v.note(f"It is published on every interface of the host ({host_ip}); adding 127.0.0.1 to the "
               f"mapping would keep it on this machine only.")
    return v


def _image_of(c) -> str:
    return (c.attrs.get("Config") or {}).get("Image") or c.attrs.get("Image", "")[:19]


def _image_ports(c) -> list[str]:
    """The ports the container's *image* declares with EXPOSE (the container's own Config also
    lists every port published with -p, which says nothing about what listens)."""
    try:
        cfg = engine.client().images.get(c.attrs["Image"]).attrs.get("Config") or {}
    except Exception:
        return []
    return sorted(cfg.get("ExposedPorts") or {})


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def check_name_resolution(*, min_containers: int = 2, dns_wait: float = 10) -> Verdict:
    """Two running containers of this notebook, created since the exercise began
    (:func:`begin_exercise`), share a user-defined network (also created since) on which each
    resolves the other's name to the right address."""
    import docker.errors

    v = Verdict("Exercise: two containers that find each other by name")
    if not _daemon(v):
        return v
    cli = engine.client()
    conts, earlier = _since("name_resolution", _session_containers())
    running = [c for c in conts if c.status == "running"]
    nets, old_nets = _since("name_resolution", [n for n in cli.networks.list(filters=engine.session_filter())
                                                if n.attrs.get("Driver") == "bridge"])
    if earlier or old_nets:
        v.note("Only what was created since the exercise began counts (not "
               + ", ".join(short(o.name) for o in earlier + old_nets) + ").")
    if not nets:
        on_default = [short(c.name) for c in running if "bridge" in (c.attrs["NetworkSettings"].get("Networks") or {})]
        if len(on_default) >= 2:
            v.fail(f"{', '.join(on_default)} run on the default bridge, where Docker's DNS does not "
                   f"resolve container names.",
                   hint="They need a network of your own (docker network create), with both containers on it.")
            return v
        return v.not_attempted("This notebook has no user-defined bridge network created since the exercise began.",
                               hint="Create a network of your own, then start two long-running containers on it.")
    best, members = None, []
    for n in nets:
        here = [c for c in running if n.name in (c.attrs["NetworkSettings"].get("Networks") or {})]
        if len(here) > len(members):
            best, members = n, here
    if len(members) < min_containers:
        names = ", ".join(short(n.name) for n in nets)
        stopped = [short(c.name) for c in conts if c.status != "running"]
        v.fail(f"Your network(s) {names} have {len(members)} running container(s) of this notebook; "
               f"two must be running on the same one"
               + (f" ({', '.join(stopped)} stopped)" if stopped else "") + ".",
               hint="A container ends when its command ends: give both a command that keeps running "
                    "(sleep infinity)." if stopped else
               "Start both containers on the same network (--network).")
        return v
    v.ok(f"{len(members)} running containers share the network {short(best.name)}: "
         f"{', '.join(short(c.name) for c in members)}.")
    a, b = members[0], members[1]
    for src, dst in ((a, b), (b, a)):
        want = dst.attrs["NetworkSettings"]["Networks"][best.name]["IPAddress"]
        # Docker's DNS learns of a container a moment after it starts: a right answer may need a few tries
        deadline = time.monotonic() + dns_wait
        while True:
            try:
                res = src.exec_run(["getent", "hosts", dst.name])
            except docker.errors.DockerException as exc:
                res = None
                v.fail(f"Could not run a name lookup inside {short(src.name)}: {explain(exc)}")
                break
            output = (res.output or b"").decode(errors="replace")
            got = output.split()[0] if res.exit_code == 0 and output.strip() else None
            if got == want or res.exit_code in (126, 127) or time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        if res is None:
            continue
        if got == want:
            v.ok(f"Inside {short(src.name)}, the name {dst.name} resolves to {got}.")
        elif res.exit_code in (126, 127) or "not found" in output:
            v.fail(f"{short(src.name)}'s image has no getent to look names up with.",
                   hint="Use a Debian-based image.")
        else:
            v.fail(f"Inside {short(src.name)}, the name {dst.name} does not resolve to its address {want}"
                   + (f" (got {got})" if got else "") + ".",
                   hint="Names resolve on user-defined networks, between containers attached to the same one.")
    return v
