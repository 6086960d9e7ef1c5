"""Exercise checkers for Docker Compose, run against the real engine.

Each exercise starts from a fresh copy of the tasks application
(:func:`exercise_copy`), the student writes its ``compose.yaml`` (YAML text, with
no workbook label in it: :mod:`helpers.orchestration.project_files` adds the session's labels in a
second file), and a ``check_...`` function reads that file as Compose does
(``docker compose config``), brings the student's project up under a separate project name of
its own (``wb-<session>-check-<exercise>``), tests what the exercise asks *by
using the running application*, brings it down again (volumes included) and
returns a :class:`helpers.core.verdict.Verdict`, case by case.  Nothing the lesson
started (notebook 14's or 15's own project) can answer for the student's file:
the check starts the file it is given, in a project nobody else uses.

* :func:`check_cache_service`: "add a cache service the API reaches by name".
* :func:`check_data_survives`: "make the database data survive ``down``".
* :func:`check_replicas`: "run 3 replicas of the tasks service behind the proxy".

The checks never raise for a wrong solution.
"""

from __future__ import annotations

from pathlib import Path

from helpers.core.errors import WorkbookError
from helpers.orchestration import compose, project_files
from helpers.core.verdict import Verdict


def exercise_copy(name: str) -> Path:
    """A fresh copy of ``data/compose`` for an exercise (``wb-<session>-ex-<name>``)."""
    return project_files.working_copy(f"ex-{name}", fresh=True)


def _check_project(directory, name: str) -> compose.Project:
    directory = Path(directory)
    if not (directory / "compose.yaml").exists():
        raise WorkbookError(f"There is no compose.yaml in {directory}: make one with exercise_copy().")
    project_files.copy_tasks_package(directory)
    return compose.project(f"check-{name}", directory=directory)


def _config(project: compose.Project, verdict: Verdict) -> dict | None:
    try:
        model = project.config(echo=False)
    except WorkbookError as exc:
        text = str(exc)
        if "additional propert" in text and "replicas" in text:
            hint = "`replicas` belongs under the service's `deploy:` section (deploy: replicas: N)."
        elif "container_name" in text or "container name" in text:
            hint = "Several containers of one service cannot share one container_name: remove it."
        elif "undefined network" in text:
            hint = "A network a service names must be declared in the top-level networks: section (or be one that is)."
        else:
            hint = "Compose rejects the file: the message says which key, or which line, is wrong."
        verdict.fail(f"Compose rejects the file: {text}", hint=hint)
        return None
    verdict.ok("Compose accepts the file (`compose config`).")
    return model


def _start(directory, name: str, verdict: Verdict) -> tuple[compose.Project | None, dict | None]:
    """The checker's own project on the student's folder, and the file as Compose reads it.
    ``(None, None)`` when there is nothing to check yet, ``(project, None)`` when Compose rejects
    the file; the verdict says which."""
    try:
        project = _check_project(directory, name)
    except WorkbookError as exc:
        verdict.not_attempted(str(exc), hint="Run the exercise cell first: it makes the copy and writes your file.")
        return None, None
    return project, _config(project, verdict)


def _up(project: compose.Project, verdict: Verdict, *services: str, timeout: float = 90) -> bool:
    try:
        seconds = project.up(*services, build=True, timeout=timeout, echo=False)
    except WorkbookError as exc:
        text = str(exc)
        if "container name" in text.lower() or "container_name" in text:
            hint = "Several containers of one service cannot share one container_name: remove it."
        elif "already in use" in text or "already allocated" in text:
            hint = ("Several containers cannot publish one fixed host port: leave the ports of that service out "
                    "(the proxy is the entrance).")
        else:
            hint = "Read the last log line above: it says why a container did not start."
        return verdict.fail(f"The project does not start: {text}", hint=hint)
    return verdict.ok(f"`compose up --wait` started the project in {seconds:.1f} s.")


def _down(project: compose.Project) -> None:
    try:
        project.down(volumes=True, images=True, echo=False)
    except WorkbookError:
        pass  # helpers.cleanup() removes what is left


def _networks(svc: dict) -> set[str]:
    return set(svc.get("networks") or {"default": None})


# --- exercise 1: a cache service reached by name --------------------------------------

REDIS_PING = ("import socket,sys\n"
              "s = socket.create_connection(('cache', 6379), timeout=3)\n"
              "s.sendall(b'PING\\r\\n')\n"
              "print(s.recv(64).decode().strip())\n")


def check_cache_service(directory) -> Verdict:
    """Exercise: add a ``cache`` service (image ``redis``) that the ``tasks`` service reaches as
    ``cache:6379``, started before it (``depends_on``)."""
    verdict = Verdict("Exercise: a cache service the API reaches by name")
    project, model = _start(directory, "cache", verdict)
    if model is None:
        return verdict
    try:
        services = model.get("services", {})
        if "cache" not in services:
            return verdict.not_attempted("There is no service called `cache` under services:.",
                                         hint="Add a service `cache` that runs the redis image.")
        verdict.ok("There is a service called `cache`.")
        cache, tasks = services["cache"], services.get("tasks", {})
        verdict.add("redis" in str(cache.get("image", "")), "The cache runs the `redis` image."
                    if "redis" in str(cache.get("image", "")) else "The cache does not run the redis image.",
                    hint="Give the cache `image: redis`.")
        shared = _networks(cache) & _networks(tasks)
        verdict.add(bool(shared), f"cache and tasks share the network(s) {sorted(shared)}." if shared else
                    f"cache ({sorted(_networks(cache))}) and tasks ({sorted(_networks(tasks))}) share no network.",
                    hint="Put the cache on a network of the tasks service: names resolve only on a shared network.")
        depends = "cache" in (tasks.get("depends_on") or {})
        verdict.add(depends, "tasks depends_on cache (the cache starts first)." if depends
                    else "tasks does not depend on cache.",
                    hint="List cache under the depends_on of tasks, so that Compose starts the cache first.")
        if not _up(project, verdict, "tasks"):
            return verdict
        try:
            answer = project.exec("tasks", "python3", "-c", REDIS_PING).strip()
        except WorkbookError as exc:
            answer = str(exc)
        if answer.endswith("PONG"):
            verdict.ok("From inside the tasks container, `cache:6379` answers PING with PONG.")
        elif "Name or service not known" in answer or "gaierror" in answer:
            verdict.fail("From inside the tasks container the name `cache` does not resolve.",
                         hint="`compose up tasks` starts only tasks and what it depends on, and names resolve "
                              "only on a shared network.")
        else:
            verdict.fail(f"From inside the tasks container, cache:6379 does not answer PING ({answer[-160:]}).",
                         hint="Is redis listening on its port 6379 in the cache container?")
    finally:
        _down(project)
    return verdict


# --- exercise 2: data that survives `down` ---------------------------------------------

def check_data_survives(directory) -> Verdict:
    """Exercise: tasks created through the proxy are still there after ``down`` and ``up``."""
    import requests

    verdict = Verdict("Exercise: the database survives `compose down`")
    project, model = _start(directory, "data", verdict)
    if model is None:
        return verdict
    title = "written before down"
    try:
        if not _up(project, verdict):
            return verdict
        url = project.url("/api/v1/tasks")
        try:
            created = requests.post(url, json={"title": title}, timeout=5)
            ok = created.status_code == 201
        except requests.RequestException as exc:
            ok, created = False, exc
        if not verdict.add(ok, "POST /api/v1/tasks through the proxy created a task." if ok
                           else f"POST /api/v1/tasks through the proxy failed ({created}).",
                           hint="The application must answer through the proxy before its data can survive."):
            return verdict
        location = created.headers.get("Location", "")
        project.down(volumes=False, echo=False)
        verdict.ok("`compose down` removed the containers (and kept the named volumes).")
        if not _up(project, verdict):
            return verdict
        url = project.url("/api/v1/tasks")  # the proxy may have a new host port
        found = requests.get(url, params={"q": title}, timeout=5).json()
        still = any(t.get("title") == title for t in found) if isinstance(found, list) else False
        verdict.add(still, f"After down and up the task is still there ({location})." if still else
                    "After down and up the task is gone: the database file was inside the container.",
                    hint="Mount a named volume at the folder that holds the database (/data) and declare it "
                         "under volumes:.")
    finally:
        _down(project)
    return verdict


# --- exercise 3: three replicas behind the proxy -----------------------------------------

def check_replicas(directory, replicas: int = 3) -> Verdict:
    """Exercise: the compose file itself runs ``replicas`` replicas of ``tasks`` and the proxy
    spreads requests over all of them."""
    verdict = Verdict(f"Exercise: {replicas} replicas of the tasks service")
    project, model = _start(directory, "replicas", verdict)
    if model is None:
        return verdict
    try:
        tasks = model.get("services", {}).get("tasks", {})
        declared = (tasks.get("deploy") or {}).get("replicas") or tasks.get("scale")
        if declared is None:
            return verdict.not_attempted("The file does not say how many replicas of tasks to run (so: 1).",
                                         hint=f"Set deploy: replicas: {replicas} (or scale: {replicas}) on the tasks "
                                              f"service.")
        if declared != replicas:
            verdict.fail(f"The file asks for {declared} replica(s) of tasks.",
                         hint=f"Set deploy.replicas (or scale) to {replicas}.")
            return verdict
        verdict.ok(f"The file asks for {replicas} replicas.")
        if not _up(project, verdict):
            return verdict
        running = [c for c in project.containers("tasks") if c.status == "running"]
        verdict.add(len(running) == replicas, f"{len(running)} tasks containers are running.",
                    hint="Look at `compose ps --all`: which replicas did not stay up?")
        try:
            seen = project.reload_proxy(replicas, timeout=10, echo=False)
            verdict.ok(f"The proxy spreads requests over {len(seen - {'?'})} replicas.")
        except WorkbookError:
            verdict.fail(f"The proxy does not reach {replicas} different replicas.",
                         hint="Every replica must be on the proxy's network, under the service name tasks.")
    finally:
        _down(project)
    return verdict
