"""Swarm mode: the orchestrator that ships with the Docker Engine (notebook 13).

The module turns swarm mode on only if it was off, and remembers that it
did.  Swarm mode exists once per engine, so every session that uses it holds
a *shared* lease on it (:mod:`helpers.core.leases`): two notebooks may use swarm
mode at once, each with its own services, and the last workbook session
that is done with it leaves swarm mode again ("left as it was found"),
together with the ``docker_gwbridge`` network that joining created.
Turning it on or off happens under an exclusive lease, so that no session
ever sees another one half-way through.

Notebook 13 creates, scales, updates and removes its service with the SDK
and the CLI in its cells; this module keeps what a cell cannot show in a few
lines: waiting until every replica answers, recording desired versus running
replicas over time (:func:`record`) while a cell's action (a kill, an update)
happens, and what those samples say (:func:`replacement_time`,
:func:`describe_update`).

Publishing: swarm's routing mesh (``ingress`` publishing) needs the
kernel's IPVS load balancer.  Where the kernel lacks it (this machine's
does), a port published in ingress mode never answers, so
notebook 13 publishes in ``host`` mode instead: every replica
gets its own host port, and a client (or a proxy) spreads the requests.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from helpers.containers import engine
from helpers.core import leases, session
from helpers.core.cleanup import Cleaner
from helpers.core.errors import WorkbookError, wait_for
from helpers.core.verdict import Verdict

#: A tiny HTTP service: answers with its version and the replica (container) that served it.
SERVER = (
    "import http.server, json, os, signal, socket, sys\n"
    # PID 1 of a container ignores SIGTERM unless it handles it: without this line every stopped task
    # (scale down, rolling update) would wait its whole stop grace period for SIGKILL.
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = json.dumps({'version': os.environ.get('VERSION', '?'),\n"
    "                           'replica': socket.gethostname()}).encode()\n"
    "        self.send_response(200); self.send_header('Content-Type', 'application/json')\n"
    "        self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    "http.server.ThreadingHTTPServer(('0.0.0.0', 8000), H).serve_forever()\n"
)
SERVICE_PORT = 8000


class SwarmError(WorkbookError):
    """A swarm operation failed; one sentence says why."""


def _client():
    return engine.client()


#: Written when the workbook turned swarm mode on, so that the last session using it turns it off.
_INITIALISED = "initialised-by-workbook.json"
#: Held (shared) by every session that uses swarm mode; taken exclusively only to leave it.
USE_LEASE = "docker-swarm-mode"
#: Held (exclusive) for the few seconds of turning swarm mode on or off.
CHANGE_LEASE = "docker-swarm-mode-change"


def _init_marker() -> Path:
    # Beside the leases: a session of another user may be the one that turns swarm mode off.
    return leases.leases_dir() / _INITIALISED


def node_state() -> str:
    """``inactive``, ``active``, ``pending``, ``error`` or ``locked`` (``docker info``)."""
    return (_client().info().get("Swarm") or {}).get("LocalNodeState", "inactive")


def is_active() -> bool:
    return node_state() == "active"


def routing_mesh_available() -> bool:
    """True when the kernel has IPVS, which swarm's ingress routing mesh needs."""
    return Path("/proc/net/ip_vs").exists()


def _change_lease() -> leases.Lease:
    return leases.acquire(CHANGE_LEASE, what="the switch of swarm mode (on/off)", wait=120)


def ensure_swarm() -> str:
    """Turn swarm mode on if it is off; returns what happened, in words.

    Swarm mode exists once per engine, so it is used under a *shared* lease:
    several sessions may use it at once (each with its own services), and it
    is turned off again only by the last workbook session that used it, if
    the workbook turned it on.
    """
    cli = _client()
    with _change_lease():
        state = node_state()
        if state == "active" and not cli.info().get("Swarm", {}).get("ControlAvailable"):
            raise SwarmError("This engine is a swarm worker, not a manager: services can only be "
                             "created on a manager node; run the notebook on a manager.")
        if state not in ("active", "inactive"):
            raise SwarmError(f"Swarm mode is in state {state!r}; fix it (`docker swarm leave --force`) and retry.")
        others = [h for h in leases.holders(USE_LEASE) if h["session"] != session.SESSION_ID]
        if state == "inactive":
            had_gwbridge = bool(cli.networks.list(names=["docker_gwbridge"]))
            # an APIError here is told in one sentence by helpers.core.errors.explain, as any SDK error
            cli.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
            _init_marker().write_text(json.dumps({"by": session.SESSION_ID, "had_gwbridge": had_gwbridge}))
            how = ("Swarm mode was off: this engine is now a one-node swarm (a manager); "
                   "it will be turned off again at clean-up.")
        elif _init_marker().exists():
            how = "Swarm mode was already on (the workbook turned it on)."
        else:
            how = "Swarm mode was already on (it was on before the workbook: it will stay on)."
        leases.acquire(USE_LEASE, what="swarm mode of this Docker engine", shared=True, wait=60)
    if others:
        how += (" It is shared with " + ", ".join(leases.describe(h) for h in others)
                + ": each session has its own services, and swarm mode stays on until the last of them is done.")
    return how


def release(sid: str | None = None) -> str:
    """Stop using swarm mode for session ``sid``; leave it if the workbook joined it and no
    other live workbook session (nor any service the workbook did not create) still uses it."""
    sid = sid or session.SESSION_ID
    with _change_lease():
        if sid == session.SESSION_ID:
            leases.release(USE_LEASE)
        init_file = _init_marker()
        if not init_file.exists():
            return "Swarm mode is left as it was found (it was on before the workbook used it)." \
                if is_active() else "Swarm mode is off."
        try:  # exclusive, without waiting: it works only when no live session uses swarm mode
            last = leases.acquire(USE_LEASE, what="swarm mode of this Docker engine", wait=0, progress=None)
        except leases.LeaseBusy:
            others = [h for h in leases.holders(USE_LEASE) if h["session"] != sid]
            return ("Swarm mode stays on for now: " + (", ".join(leases.describe(h) for h in others)
                                                       or "another workbook session") + " still uses it.")
        with last:
            if is_active():
                # The session label alone marks a workbook object (engine.workbook_filter): a
                # service made in a terminal with --label org.cloud-workbook.session=$WORKBOOK_SESSION counts.
                foreign = [s for s in _client().services.list()
                           if session.SESSION_LABEL not in (s.attrs["Spec"].get("Labels") or {})]
                if foreign:
                    return "Swarm mode stays on: it now runs services the workbook did not create."
                _client().swarm.leave(force=True)
            info = json.loads(init_file.read_text() or "{}")
            if not info.get("had_gwbridge"):
                for net in _client().networks.list(names=["docker_gwbridge"]):
                    try:
                        net.remove()
                    except Exception:
                        pass  # still used by a container of someone else: harmless
            init_file.unlink(missing_ok=True)
        return "Left swarm mode: the engine is back to how it was found (swarm mode off)."


def _uses_swarm(sid: str) -> bool:
    if sid == session.SESSION_ID:
        return leases.held(USE_LEASE) is not None
    return leases.note_path(USE_LEASE, sid).exists()


# --- services ---------------------------------------------------------------------

def replicas(service) -> tuple[int, int]:
    """(desired, running) replicas of ``service`` right now."""
    service.reload()
    desired = service.attrs["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0)
    return desired, len(task_containers(service))


def wait_converged(service, *, timeout: float = 60) -> tuple[int, int]:
    """Wait until every desired replica runs; returns (desired, running)."""
    def done():
        d, r = replicas(service)
        return (d, r) if d == r else None
    return wait_for(done, timeout=timeout, what=f"service {service.name} to run all its replicas", interval=0.3)


def wait_ready(service, *, timeout: float = 60) -> list[str]:
    """Wait until every desired replica runs *and answers HTTP*; returns the endpoints' URLs."""
    import requests

    wait_converged(service, timeout=timeout)

    def answering():
        urls = endpoints(service)
        desired, _ = replicas(service)
        if len(urls) < (1 if len(urls) == 1 and routing_mesh_available() else desired):
            return None
        for url in urls:
            requests.get(url, timeout=2).raise_for_status()
        return urls
    return wait_for(answering, timeout=timeout, what=f"every replica of {service.name} to answer", interval=0.3)


def task_containers(service) -> list:
    """The running containers of ``service`` on this node."""
    flt = {"label": [f"com.docker.swarm.service.id={service.id}"], "status": "running"}
    return _client().containers.list(filters=flt, ignore_removed=True)


def endpoints(service) -> list[str]:
    """``http://127.0.0.1:PORT`` for each running replica (host mode), or the one ingress URL."""
    service.reload()
    ports = service.attrs.get("Endpoint", {}).get("Ports") or []
    mesh = [p["PublishedPort"] for p in ports if p.get("PublishMode", "ingress") == "ingress" and p.get("PublishedPort")]
    if mesh:
        return [f"http://127.0.0.1:{mesh[0]}/"]
    urls = []
    for c in task_containers(service):
        for binding in (c.attrs["NetworkSettings"].get("Ports") or {}).get(f"{SERVICE_PORT}/tcp") or []:
            if binding.get("HostIp") in ("0.0.0.0", "", "127.0.0.1"):
                urls.append(f"http://127.0.0.1:{binding['HostPort']}/")
                break
    return urls


def record(service, *, seconds: float, interval: float = 0.25, actions: dict | None = None,
           until=None, max_seconds: float = 90) -> list[dict]:
    """Sample (time, desired, running, versions) every ``interval`` s for ``seconds`` s.

    ``actions`` maps a time (s) to a function called then (kill a task, start
    an update...); its return value is stored as the sample's ``event``.
    With ``until`` (a function), sampling goes on past ``seconds`` until it
    returns true (at most ``max_seconds``).
    """
    actions = dict(sorted((actions or {}).items()))
    samples = []
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        event = None
        for at in list(actions):
            if now >= at:
                event = actions.pop(at)()
        service.reload()
        # What runs is read from the containers themselves: the swarm's task list
        # lags behind a crash by a moment (the agent reports it).
        containers = task_containers(service)
        versions: dict[str, int] = {}
        for c in containers:
            env = c.attrs.get("Config", {}).get("Env") or []
            v = next((e.split("=", 1)[1] for e in env if e.startswith("VERSION=")), "?")
            versions[v] = versions.get(v, 0) + 1
        running = containers
        desired = service.attrs["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0)
        samples.append({"t": now, "desired": desired, "running": len(running),
                        "ids": sorted(c.id[:12] for c in running),
                        "versions": versions, "event": event})
        if now >= seconds and not actions and (until is None or until() or now >= max_seconds):
            break
        time.sleep(interval)
    return samples


def replacement_time(samples: list[dict]) -> float | None:
    """Seconds from the first event (a kill) until all desired replicas run again, in a set of
    containers that differs from the one before the event (so a fast replacement still counts)."""
    first = next((i for i, s in enumerate(samples) if s["event"]), None)
    if first is None:
        return None
    t0 = samples[first]["t"]
    before = set(samples[first - 1]["ids"]) if first > 0 else set()
    for s in samples[first:]:
        if s["running"] >= s["desired"] and set(s["ids"]) != before and before:
            return s["t"] - t0
    return None


def update_summary(samples: list[dict]) -> dict:
    """What the samples of a rolling update (:func:`record`) show: the desired count, the most and
    the fewest containers running at once, for how many seconds the total was above (or below) the
    desired count, and how many containers of the new version started at most at once."""
    if not samples:
        raise WorkbookError("There are no samples: record the update first (helpers.orchestration.swarm.record).")
    desired = max(s["desired"] for s in samples)
    newest = max((v for s in samples for v in s["versions"]), key=lambda v: (len(v), v))
    above = below = 0.0
    steps = 0
    for s, nxt in zip(samples, samples[1:]):
        dt = nxt["t"] - s["t"]
        above += dt if s["running"] > desired else 0.0
        below += dt if s["running"] < desired else 0.0
        steps = max(steps, nxt["versions"].get(newest, 0) - s["versions"].get(newest, 0))
    start = next((s["t"] for s in samples if s.get("event")), samples[0]["t"])
    done = next((s["t"] for s in samples if s["t"] >= start and set(s["versions"]) == {newest}
                 and s["running"] == desired), samples[-1]["t"])
    return {"desired": desired, "version": newest, "max_running": max(s["running"] for s in samples),
            "min_running": min(s["running"] for s in samples), "seconds_above": above,
            "seconds_below": below, "most_new_at_once": steps, "duration": done - start}


def describe_update(samples: list[dict]) -> str:
    """:func:`update_summary` in one or two sentences, every number taken from the samples."""
    u = update_summary(samples)
    d = u["desired"]
    extra = u["max_running"] - d
    text = (f"The update to VERSION={u['version']} took {u['duration']:.1f} s. At most {u['max_running']} "
            f"containers ran for {d} desired")
    if extra == 1:
        text += (f" (one new task beside the old one it replaces, {u['seconds_above']:.1f} s in all); ")
    elif extra > 1:
        text += (f" ({extra} more than desired at once: an old task was still stopping when the next new one "
                 f"started; {u['seconds_above']:.1f} s above the desired count in all); ")
    else:
        text += "; "
    if u["min_running"] >= d:
        text += f"the running count never fell below {d}."
    else:
        text += (f"the running count fell to {u['min_running']} for {u['seconds_below']:.1f} s "
                 f"(an old task stopped before its replacement was seen running).")
    return text


def update_state(service) -> str:
    service.reload()
    return (service.attrs.get("UpdateStatus") or {}).get("State", "none")


def remove_service(service) -> None:
    """``docker service rm``, and wait until its containers are gone."""
    sid = service.id
    service.remove()
    _wait_containers_gone(sid)


def _wait_containers_gone(service_id: str, timeout: float = 30) -> None:
    flt = {"label": [f"com.docker.swarm.service.id={service_id}"]}
    wait_for(lambda: not _client().containers.list(all=True, filters=flt, ignore_removed=True), timeout=timeout,
             what="the service's containers to be removed", interval=0.3)


# --- clean-up ------------------------------------------------------------------------

def _services(sid: str | None):
    if not engine.available() or not is_active():
        return []
    flt = engine.session_filter(sid) if sid else engine.workbook_filter()
    return _client().services.list(filters=flt)


def _owners() -> set[str]:
    owners = {s.attrs["Spec"]["Labels"].get(session.SESSION_LABEL) for s in _services(None)}
    return {o for o in owners if o}  # sessions that only used swarm mode own a lease (helpers.core.leases)


def _leftovers(sid: str) -> list[str]:
    found = [f"swarm service {s.name}" for s in _services(sid)]
    if _uses_swarm(sid):
        found.append("swarm mode in use")
    return found


def _remove(sid: str) -> list[str]:
    removed = []
    for s in _services(sid):
        try:
            remove_service(s)
        except Exception:
            pass
        removed.append(f"swarm service {s.name}")
    if _uses_swarm(sid):
        removed.append(release(sid))
    return removed


CLEANER = Cleaner("swarm", _owners, _leftovers, _remove)


# --- exercise -------------------------------------------------------------------------

def check_scaled(service, replicas_wanted: int = 4) -> Verdict:
    """Exercise check: the service wants ``replicas_wanted`` replicas, all run and all answer."""
    import requests

    v = Verdict(f"Exercise: {replicas_wanted} replicas of {getattr(service, 'name', service)}")
    try:
        service.reload()
        desired, running = replicas(service)
    except Exception:  # removed service, daemon gone...
        return v.not_attempted("The service cannot be read any more (was it removed?).",
                               hint="Run the cells above again to re-create `web`, then scale it.")
    if desired != replicas_wanted:
        said = f"The service asks for {desired} replica(s) (wanted: {replicas_wanted})."
        hint = f"Change the desired count: docker service scale {service.name}={replicas_wanted}."
        before = (service.attrs.get("PreviousSpec") or {}).get("Mode", {}).get("Replicated", {}).get("Replicas")
        if before == desired:  # its last update changed something else: the count is the demonstration's
            return v.not_attempted(said[:-1] + ", the count it had before its last update.", hint=hint)
        v.fail(said, hint=hint)
        return v
    v.ok(f"The service asks for {desired} replicas.")
    try:
        wait_converged(service, timeout=30)
        urls = wait_ready(service, timeout=30)
        answers = {requests.get(u, timeout=3).json()["replica"] for u in urls}
        ok = len(answers) == replicas_wanted or (len(urls) == 1 and routing_mesh_available())
        v.add(ok, f"{len(answers)} different replicas answered over HTTP.",
              hint="Wait for the new tasks to start, then run the check again.")
    except WorkbookError as exc:
        v.fail(f"Not every replica runs and answers: {exc}")
    return v
