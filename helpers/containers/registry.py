"""A private image registry (§2.12.4) on a leased host port: ``docker run -d -p 127.0.0.1:5000:5000 registry:2``.

Notebook 12 pushes and pulls with the SDK itself (``client.images.push(...)``); what takes more
than a cell is here: :func:`start_registry` runs the registry, reuses this session's running one,
and waits until it answers.  Its host port 5000 exists once per machine: a session takes it
through a lease (:func:`helpers.core.leases.host_port`), and a second session, or a port a
program outside the workbook holds, gets a free port instead, with one sentence saying why.
The port is published on 127.0.0.1 only: a laptop on a café's Wi-Fi must not offer its
registry to the whole network.  :meth:`Registry.remove` (or ``helpers.cleanup()``) removes it
and gives the lease back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers.containers import engine
from helpers.core import leases, session
from helpers.core.errors import AlreadyInUse, WorkbookError, wait_for
from helpers.core.servers import LOOPBACK

# --- a private registry ----------------------------------------------------------------

#: The host port the chapter gives the registry (``docker run -p 5000:5000 registry:2``).
REGISTRY_PORT = 5000
REGISTRY_ROLE = "registry"


def _port_what(port: int) -> str:
    return f"host port {port}" + (" (the registry port the chapter uses)" if port == REGISTRY_PORT else "")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class Registry:
    """A running registry: its container, the host port (on 127.0.0.1), and the lease on that port."""

    container: object
    port: int
    lease: object | None = field(default=None, repr=False)
    #: Why the registry is not on the port that was asked for ("" when it is).
    note: str = ""

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def command(self) -> str:
        """The ``docker run`` line that starts this registry, with its real name and port."""
        return f"docker run -d -p {LOOPBACK}:{self.port}:5000 --name {self.container.name} registry:2"

    def remove(self) -> None:
        """``docker rm -f -v REGISTRY``: the registry and its storage go, and the port's lease is given back."""
        import docker.errors

        try:
            self.container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        if self.lease is not None:
            self.lease.release()
            self.lease = None


def _registry_port(container) -> int | None:
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get("5000/tcp") or []:
        return int(binding["HostPort"])
    return None


def _session_registries() -> list:
    """This session's running registries (containers), skipping one that vanished meanwhile."""
    import docker.errors

    cli = engine.client()
    flt = engine.session_filter()
    flt["label"].append(f"org.cloud-workbook.role={REGISTRY_ROLE}")
    found = []
    for summary in cli.api.containers(filters=flt):
        try:
            found.append(cli.containers.get(summary["Id"]))
        except docker.errors.NotFound:
            continue
    return found


def _remove_named(name: str) -> None:
    """Remove this session's container ``name`` if there is one (a failed start leaves it created)."""
    import docker.errors

    try:
        old = engine.client().containers.get(name)
    except docker.errors.NotFound:
        return
    if not engine.owned(old):
        raise AlreadyInUse(f"A container named {name!r} exists and was not created by this notebook: "
                           f"choose another name.")
    try:
        old.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass


def _run_registry(name: str, host_port: int | None):
    """``docker run -d -p 127.0.0.1:PORT:5000 --name NAME registry:2`` (``PORT`` None: Docker picks a free one)."""
    binding = (LOOPBACK, host_port) if host_port else (LOOPBACK,)
    try:
        container = engine.run("registry:2", detach=True, name=name, ports={"5000/tcp": binding},
                                      quiet=True, labels={"org.cloud-workbook.role": REGISTRY_ROLE},
                                      mounts=[_anon("/var/lib/registry")])
    except WorkbookError:
        _remove_named(name)  # created, but not started: do not keep the name taken
        raise
    container.reload()
    return container


def start_registry(port: int | None = REGISTRY_PORT, *, name: str | None = None,
                   fallback_to_free_port: bool = True, wait: float = 0, timeout: float = 30) -> Registry:
    """``docker run -d -p 127.0.0.1:PORT:5000 --name wb-<session>-registry registry:2``, then wait until it answers.

    Reuses this session's running registry.  Host port ``port`` is taken
    through the lease ``host-port-PORT`` (waiting up to ``wait`` seconds):
    when another live session holds it, or a program outside the workbook
    listens there, the registry gets a free port instead
    (``fallback_to_free_port``, with one printed sentence saying why) or one
    sentence is raised.  ``port=None`` lets Docker pick a free port.
    :meth:`Registry.remove` removes the registry and gives the lease back
    (``helpers.cleanup()`` does both anyway).
    """
    import requests

    name = name or session.resource_name("registry")
    for container in _session_registries():
        reg = Registry(container, _registry_port(container))
        if port is None or reg.port == port or fallback_to_free_port:
            reg.lease = leases.held(leases.host_port(reg.port))
            return reg
    _remove_named(name)  # a stopped registry of this session: start afresh
    lease, note, host_port = None, "", None
    if port is not None:
        try:
            lease = leases.acquire(leases.host_port(port), what=_port_what(port), wait=wait,
                                   progress=print if wait else None)
            host_port = port
        except leases.LeaseBusy:
            who = ", ".join(leases.describe(h) for h in leases.holders(leases.host_port(port))) or "another session"
            if not fallback_to_free_port:
                raise AlreadyInUse(f"{_capital(_port_what(port))} is held by {who}: "
                                   f"let that notebook finish, or start the registry on another port "
                                   f"(port=None picks a free one).") from None
            note = f"{_capital(_port_what(port))} is held by {who}, so this registry"
    try:
        try:
            container = _run_registry(name, host_port)
        except WorkbookError as exc:
            if host_port is None or "port is already in use" not in str(exc):
                raise
            # The lease was free, but a program outside the workbook listens on the port.
            if lease is not None:
                lease.release()
                lease = None
            if not fallback_to_free_port:
                raise AlreadyInUse(f"Host port {port} is already taken (another registry or service listens "
                                   f"there): stop it, or start the registry on another port (port=None picks "
                                   f"a free one).") from None
            note = (f"{_capital(_port_what(port))} is in use by a program that holds no workbook lease, "
                    f"so this registry")
            container = _run_registry(name, None)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    reg = Registry(container, _registry_port(container), lease)
    if note:
        reg.note = f"{note} listens on the free port {LOOPBACK}:{reg.port} instead."
        print(reg.note)
    wait_for(lambda: requests.get(reg.url + "/v2/", timeout=2).status_code == 200, timeout=timeout,
             what=f"the registry to answer on {reg.address}", interval=0.2)
    return reg


def _anon(target: str):
    from docker.types import Mount

    return Mount(target, None, type="volume", labels=session.labels())
