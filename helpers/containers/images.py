"""Docker images (§2.12.4): what notebook 12 cannot show in a few lines of SDK calls.

The notebook runs every image operation itself, with the Docker SDK
(``client.images.build(...)``, ``image.tag(...)``, ``client.images.push(...)``)
and with the ``docker`` command beside it.  This module keeps the rest:

* :class:`BuildResult` (:meth:`BuildResult.from_log`) -- a build's seconds and which of the
  Dockerfile's steps came from the cache, read from the build log.
* :func:`build` -- the two-step labelled build (the Dockerfile alone, then the session labels)
  whose log numbers the steps as the Dockerfile does; used by the cache experiment and the
  exercise check, with a one-sentence error naming the failing step.
* :func:`instruction_order_builds`, :func:`plot_build_times` -- what an edit costs with the
  slow step after or before ``COPY``, measured and plotted.
* :func:`context_size`, :func:`cluttered_context` -- the bytes ``docker build`` sends to the
  daemon, with or without ``.dockerignore``.
* :func:`layers`, :func:`plot_layers` -- the layer view (``docker history``), drawn.
* :func:`add_context`, :func:`context_copy`, :func:`context_tar`, :func:`serve_file`,
  :func:`tasks_service_context` -- scratch build contexts, and a stand-in web server.
* :func:`short_ids` -- ids and digests cut to 12 hex digits, as ``docker image ls`` shows them.

Names: image tags, like container names, are engine-wide, so every image a
lesson makes is called ``wb-<session>-<name>[:tag]``
(:func:`helpers.core.session.resource_name`), and so is every container; an image
pushed to the registry keeps that name (``localhost:5000/wb-<session>-name``).
The private registry itself is :mod:`helpers.containers.registry`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from helpers.containers import engine
from helpers.core import session
from helpers.containers.storage import workdir
from helpers.core.errors import NotFound, WorkbookError

REPO = Path(__file__).resolve().parents[2]  # the repository (helpers/containers/ is two levels down)
DOCKERFILES = REPO / "data" / "dockerfiles"


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


# --- ids ----------------------------------------------------------------------------

_SHA = re.compile(r"(@|[Dd]igest: )?sha256:([0-9a-f]{12})[0-9a-f]{52}")


def short_ids(text: str) -> str:
    """Every ``sha256:<64 hex>`` in ``text`` cut to 12 hex digits, as ``docker image ls`` shows ids.

    An image id becomes ``0fd6fe14a3b8``; a content digest (``@sha256:...``,
    ``digest: sha256:...``) keeps its ``sha256:`` and ends in ``…``, so that it
    still reads as a digest.
    """
    return _SHA.sub(lambda m: f"{m.group(1)}sha256:{m.group(2)}…" if m.group(1) else m.group(2), text)


# --- building ----------------------------------------------------------------------

@dataclass
class BuildResult:
    """What ``docker build`` did: the image, seconds taken, steps and which came from the cache.

    ``log`` is the build of the Dockerfile itself, numbered as the file counts
    its instructions; ``label_log`` is the short second build that put the
    workbook's session labels on the image (see :func:`build`).
    """

    image: object
    tags: list[str]
    seconds: float
    steps: list[str] = field(default_factory=list)
    cached: list[bool] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    label_log: list[str] = field(default_factory=list)

    @classmethod
    def from_log(cls, image, log, seconds: float) -> "BuildResult":
        """A build a cell ran itself (``image, log = client.images.build(..., labels=labels())``, timed by the cell).

        ``log`` is the build's stream (dicts) or its lines.  The ``LABEL
        org.cloud-workbook...`` steps that ``labels=`` appends (the classic
        builder runs every ``--label`` as one more step) are left out of the
        counts, so that they are the Dockerfile's own.
        """
        lines = [(item.get("stream") or "").rstrip("\n") if isinstance(item, dict) else str(item).rstrip("\n")
                 for item in log]
        lines = [line for line in lines if line.strip()]
        steps, cached = _parse_log(lines)
        own = [i for i, step in enumerate(steps) if not step.startswith(f"LABEL {session.WORKBOOK_LABEL}")]
        return cls(image, list(image.tags), seconds, [steps[i] for i in own], [cached[i] for i in own], lines)

    @property
    def id(self) -> str:
        return self.image.id

    def summary(self) -> str:
        n = len(self.steps)
        return (f"Built {', '.join(self.tags) or self.image.short_id} in {self.seconds:.1f} s: "
                f"{n} build steps after FROM, {sum(self.cached)} from the cache.")


def _parse_log(lines: list[str]) -> tuple[list[str], list[bool]]:
    steps, cached = [], []
    for line in lines:
        m = re.match(r"Step \d+/\d+ : (.*)", line)
        if m and m.group(1).upper().startswith("FROM "):
            steps.append(None)  # FROM is never built
            cached.append(None)
            continue
        if m:
            steps.append(m.group(1))
            cached.append(False)
        elif "Using cache" in line and cached and cached[-1] is not None:
            cached[-1] = True
    keep = [i for i, st in enumerate(steps) if st is not None]
    return [steps[i] for i in keep], [bool(cached[i]) for i in keep]


#: What ``docker build`` treats as a URL rather than a folder.
REMOTE_CONTEXTS = ("http://", "https://", "git://", "git@", "github.com/")


def _stream_lines(stream) -> list[str]:
    return [str(s["stream"]).rstrip("\n") for s in stream if s.get("stream") and s["stream"].strip()]


def _untag_quietly(ref: str, *, prune: bool) -> None:
    """``docker rmi [--no-prune] REF``, silent when it is gone or still needed (then it is no leftover either)."""
    import docker.errors

    try:
        engine.client().api.remove_image(ref, noprune=not prune)
    except docker.errors.APIError:
        pass


def build(path, tag: str | list[str] | None = None, *, dockerfile: str | None = None,
          buildargs: dict | None = None, nocache: bool = False, extra_labels: dict | None = None,
          timeout: int = 600) -> BuildResult:
    """``docker build -t TAG [-t TAG2] [-f FILE] [--build-arg K=V] [--no-cache] PATH|URL``, labelled.

    Two builds, so that the log is the Dockerfile's own: the classic builder
    (the only one the Engine API's SDK drives) runs every ``--label`` as one
    more ``LABEL`` step appended to the Dockerfile, which would turn a
    3-instruction file into "Step 1/7 ... 7/7".  So the Dockerfile is built
    first, without labels; then a one-line ``FROM <that image>``
    build adds the session labels (``labels=``, ``docker build --label``) and
    the tags.  The image is the very one a single labelled build makes (same
    layers, same cache), and the first image is its parent, removed with it.
    Between the two builds the first image carries a temporary tag, so that
    another session's clean-up, removing an image built on the same cached
    layers, cannot delete it as an untagged parent.

    Raises one sentence naming the failing step when the build fails.
    """
    import io

    import docker.errors

    # A URL (git repository, tar file, plain Dockerfile) is fetched by the daemon itself.
    remote = isinstance(path, str) and path.startswith(REMOTE_CONTEXTS)
    tags = [tag] if isinstance(tag, str) else list(tag or [])
    dockerfile_name = dockerfile or "Dockerfile"
    if not remote:
        path = Path(path)
        if not path.is_dir():
            raise NotFound(f"The build context {path} is not a folder: give the folder that holds the Dockerfile.")
        if not (path / dockerfile_name).is_file():
            raise NotFound(f"There is no {dockerfile_name} in {path}: write one, or name it with dockerfile=.")
    cli = engine.client()
    started = time.monotonic()
    holding = f"{session.resource_name('building-' + uuid.uuid4().hex[:8])}:unlabelled"
    try:
        image, stream = cli.images.build(
            path=str(path), tag=holding, dockerfile=dockerfile_name, buildargs=buildargs or {}, nocache=nocache,
            rm=True, forcerm=True, pull=False, network_mode="host", timeout=timeout)
        log = [line for line in _stream_lines(stream) if holding not in line]  # the temporary name is no step
    except docker.errors.BuildError as exc:
        lines = [str(s.get("stream", "")).rstrip() for s in exc.build_log if s.get("stream")]
        steps = [ln for ln in lines if ln.startswith("Step ")]
        number = re.match(r"Step (\d+/\d+)", steps[-1]).group(1) if steps else ""
        where = f" at step {number} ({steps[-1].split(' : ', 1)[-1][:70]})" if steps else ""
        raise WorkbookError(f"The build failed{where}: {exc.msg.strip()}") from None
    except docker.errors.APIError as exc:
        text = str(getattr(exc, "explanation", None) or exc)
        raise WorkbookError(f"The engine refused the Dockerfile: {text}") from None
    try:
        labelled, stream = cli.images.build(
            fileobj=io.BytesIO(f"FROM {image.id}\n".encode()), tag=tags[0] if tags else None,
            labels={**session.labels(), **(extra_labels or {})}, nocache=nocache, rm=True, forcerm=True,
            pull=False, timeout=timeout)
        label_log = _stream_lines(stream)
    except docker.errors.APIError as exc:  # BuildError too
        _untag_quietly(holding, prune=True)  # unlabelled, the clean-up could not find it
        raise WorkbookError(f"The image was built, but labelling it failed: {getattr(exc, 'msg', None) or exc}") from None
    _untag_quietly(holding, prune=False)  # now the labelled image's parent: only the name goes
    for extra in tags[1:]:
        repo, _, t = extra.rpartition(":") if ":" in extra.split("/")[-1] else (extra, "", "latest")
        labelled.tag(repo, t or "latest")
    seconds = time.monotonic() - started
    steps, cached = _parse_log(log)
    labelled.reload()
    return BuildResult(labelled, tags, seconds, steps, cached, log, label_log)


def instruction_order_builds(context, *, tag: str | None = None) -> dict[str, BuildResult]:
    """Measure what an edit of ``www`` costs with the slow step after or before ``COPY www``.

    ``context`` is a scratch copy of the ``cache-order`` example (``context_copy``),
    whose ``www/index.html`` this function edits. Both Dockerfiles are built cold
    (``--no-cache``), the page is edited, and both are built again with the cache.
    The images are ``TAG:copy-first`` and ``TAG:run-first`` (``TAG`` defaults to
    ``wb-<session>-cache-order``). Returns the four builds, in the order they are best plotted.
    """
    tag = tag or session.resource_name("cache-order")
    context = Path(context)
    page = context / "www" / "index.html"
    if not page.is_file():
        raise NotFound(f"{context} has no www/index.html: pass di.context_copy('cache-order').")
    files = {"COPY first": "Dockerfile.copy-first", "RUN first": "Dockerfile.run-first"}
    cold = {order: build(context, f"{tag}:{order.split()[0].lower()}-first", dockerfile=f, nocache=True)
            for order, f in files.items()}
    # The build cache is engine-wide: an edit another notebook made in the same
    # way would be found in it.  A unique edit is a real edit.
    page.write_text(page.read_text() + f"<p>edited ({uuid.uuid4().hex[:8]})</p>\n")
    edited = {order: build(context, f"{tag}:{order.split()[0].lower()}-first", dockerfile=f)
              for order, f in files.items()}
    return {f"{order}\n{when}": result[order] for order in files
            for when, result in (("cold", cold), ("www edited", edited))}


def plot_build_times(results: dict[str, BuildResult], title: str = "Building the same Dockerfile twice"):
    """Bar chart of build seconds, one bar per build (e.g. cold versus cached)."""
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.7 * len(names)), 3.2))
    secs = [results[n].seconds for n in names]
    # Orange: no step came from the cache; green: some did; blue: all did.
    def color(r: BuildResult) -> str:
        hits = sum(r.cached)
        return "#2b8cbe" if r.cached and hits == len(r.cached) else "#41ab5d" if hits else "#cf6a2a"
    colors = [color(results[n]) for n in names]
    bars = ax.bar(names, secs, color=colors)
    for bar, n in zip(bars, names):
        r = results[n]
        ax.annotate(f"{r.seconds:.1f} s\n{sum(r.cached)}/{len(r.steps)} steps cached",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("build time (s)")
    ax.set_xlabel("build")
    ax.set_ylim(0, max(secs) * 1.35)
    ax.set_title(title)
    fig.tight_layout()
    return fig


# --- the build context ----------------------------------------------------------------

def read_dockerignore(path) -> list[str]:
    """The patterns of ``PATH/.dockerignore`` (comments and blank lines dropped)."""
    file = Path(path) / ".dockerignore"
    if not file.exists():
        return []
    return [ln.strip() for ln in file.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]


def context_size(path, *, use_dockerignore: bool = True) -> dict:
    """Bytes (and files) ``docker build PATH`` sends to the daemon, as the SDK/CLI tars them."""
    from docker.utils.build import exclude_paths, tar

    path = Path(path)
    patterns = read_dockerignore(path) if use_dockerignore else []
    files = [f for f in exclude_paths(str(path), list(patterns)) if (path / f).is_file()]
    fh = tar(str(path), exclude=list(patterns))
    try:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
    finally:
        fh.close()
    return {"bytes": size, "files": len(files), "size": _human(size), "patterns": patterns}


def cluttered_context(source, *, junk_mb: int = 8) -> Path:
    """A copy of the context ``source`` with temporary files the chapter's .dockerignore excludes.

    Adds ``temp1/`` at the top (``temp?``), ``www/temp-upload.bin`` (``*/temp*``)
    and ``www/img/tempcache.bin`` (``*/*/temp*``), ``junk_mb`` MB each.
    """
    source = Path(source)
    target = workdir("contexts") / source.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    block = os.urandom(1_000_000)
    for rel in ("temp1/session.log", "www/temp-upload.bin", "www/img/tempcache.bin"):
        file = target / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "wb") as fh:
            for _ in range(junk_mb):
                fh.write(block)
    return target


# --- layers -------------------------------------------------------------------------

@dataclass
class Layer:
    instruction: str
    size: int
    created: int
    image_id: str


def _instruction(created_by: str, comment: str) -> str:
    text = (created_by or "").strip()
    if not text:
        return "(base root file system: " + (comment or "imported") + ")"
    text = re.sub(r"^\|\d+ (?:\S+=\S* )*", "", text)  # build args prefixed to RUN
    # COPY/ADD name their source by a content hash (dir:<64 hex>): cut it like an id.
    text = re.sub(r"\b([0-9a-f]{12})[0-9a-f]{20,}\b", "\\1…", text)
    if text.startswith("/bin/sh -c #(nop)"):
        return re.sub(r"\s+", " ", text[len("/bin/sh -c #(nop)"):]).strip()
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c "):]
    return text


def layers(image) -> list[Layer]:
    """``docker history IMAGE``, oldest first: the instruction behind each layer and its size."""
    import docker.errors

    if isinstance(image, str):
        try:
            image = engine.client().images.get(image)
        except docker.errors.ImageNotFound:
            raise NotFound(f"There is no image {image!r} here: build or pull it first.") from None
    out: list[Layer] = []
    for h in reversed(image.history()):
        layer = Layer(_instruction(h.get("CreatedBy", ""), h.get("Comment", "")), int(h.get("Size") or 0),
                      int(h.get("Created") or 0), (h.get("Id") or "<missing>").replace("sha256:", "")[:12])
        # build(labels=...) adds one LABEL step per workbook label: show them as one.
        if layer.instruction.startswith(f"LABEL {session.WORKBOOK_LABEL}"):
            layer.instruction = f"LABEL {session.WORKBOOK_LABEL}.* (the workbook's session labels)"
            if out and out[-1].instruction == layer.instruction:
                out[-1] = layer
                continue
        out.append(layer)
    return out


def plot_layers(image, *, title: str | None = None):
    """The layer view: one bar per layer (oldest at the bottom), size on a log axis, instruction as label.

    Layers of 0 bytes only change metadata (CMD, ENV, LABEL...): they are
    drawn as a small grey mark.
    """
    import matplotlib.pyplot as plt

    name = image if isinstance(image, str) else ((image.tags or [image.short_id])[0])
    rows = layers(image)
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.4))
    y = list(range(len(rows)))
    floor = 1.0
    sizes = [max(r.size, floor) for r in rows]
    colours = ["#2b8cbe" if r.size > 0 else "#bdbdbd" for r in rows]
    ax.barh(y, sizes, color=colours, left=0)
    labels = [(r.instruction if len(r.instruction) <= 60 else r.instruction[:57] + "...") for r in rows]
    ax.set_yticks(y, labels, fontsize=8, family="monospace")
    ax.set_xscale("log")
    top = max(sizes) * 30
    ax.set_xlim(floor, top)
    for yi, r in zip(y, rows):
        ax.text(max(r.size, floor) * 1.15, yi, _human(r.size) if r.size else "0 B (metadata only)",
                va="center", fontsize=8)
    ax.set_xlabel("layer size (bytes, log scale)")
    ax.set_title(title or f"Layers of {name}: oldest at the bottom, total {_human(sum(r.size for r in rows))}")
    fig.tight_layout()
    return fig


# --- the chapter's examples and the tasks service --------------------------------------

def example(name: str) -> Path:
    """The folder ``data/dockerfiles/NAME`` (a build context)."""
    path = DOCKERFILES / name
    if not path.is_dir():
        raise NotFound(f"There is no example {name!r}; there are: "
                       + ", ".join(sorted(p.name for p in DOCKERFILES.iterdir() if p.is_dir())))
    return path


def tasks_service_context() -> Path:
    """A build context for the tasks service: its Dockerfile plus the service's code (``helpers/services/tasks``).

    The service is one part of this package; the image needs only that, what it imports from
    ``helpers/core``, and empty package files, not the whole workbook
    (:func:`helpers.services.tasks.package_into` copies them).
    """
    source = example("tasks-service")
    target = workdir("contexts") / "tasks-service"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    from helpers.services.tasks import package_into

    package_into(target)
    return target


def context_tar(path) -> Path:
    """The build context ``path`` packed as a tar file in this session's folder (for ``docker build URL``)."""
    import tarfile

    path = Path(path)
    target = workdir("contexts") / f"{path.name}.tar"
    # GNU format: the PAX format's first member (././@PaxHeader) looks like text to `docker build URL`,
    # which then takes the whole file for a plain Dockerfile.
    with tarfile.open(target, "w", format=tarfile.GNU_FORMAT) as tar:
        for item in sorted(path.iterdir()):
            tar.add(item, arcname=item.name)
    return target


def context_copy(name: str) -> Path:
    """A scratch copy of the example ``name`` in this session's folder, to edit freely."""
    target = workdir("contexts") / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(example(name), target)
    return target


def add_context() -> Path:
    """The ``add/`` example plus a local tar file (``site.tar``, the PHP example's www folder)."""
    import tarfile

    target = context_copy("add")
    with tarfile.open(target / "site.tar", "w") as tar:
        tar.add(example("myphp") / "www", arcname="www")
    return target


def serve_file(path, *, name: str = "downloads"):
    """Serve one file over HTTP on 127.0.0.1 (a stand-in for http://example.com/last_version.tar)."""
    from helpers.core.servers import serve

    path = Path(path)
    data = path.read_bytes()

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/" + path.name:
            start_response("200 OK", [("Content-Type", "application/x-tar"), ("Content-Length", str(len(data)))])
            return [data]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    server = serve(app, name=name)
    server.file_url = f"http://127.0.0.1:{server.port}/{path.name}"
    return server
