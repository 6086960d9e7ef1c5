"""The reference RESTful *tasks* service of the chapter (§2.5.3, §2.5.4.8–2.5.4.10).

A small but complete REST API built with Flask and the standard library only
(so that it runs unchanged in a container that has nothing but Debian's
``python3-flask``, Flask 2.2 or later).

Create it with :func:`create_app` and serve it with ``helpers.core.servers.serve``,
or run it as a program::

    python -m helpers.services.tasks --host 0.0.0.0 --port 5000 --db /data/tasks.db

(``--db`` defaults to ``$TASKS_DB``; with neither, a temporary file is used.
``--no-seed`` starts with an empty collection.)

The API
=======

Every task is a JSON object::

    {"id": 1, "title": "Read §2.5", "description": "", "done": false,
     "priority": "normal", "due": "2026-03-01"}

``id`` is assigned by the server; ``priority`` is ``low``, ``normal`` or
``high``; ``due`` is a date ``YYYY-MM-DD`` or ``null``.

=========  ==========================  ===============================================
method     URI                         answer
=========  ==========================  ===============================================
GET        /api/v1/tasks               200 the tasks, filtered by the query string:
                                       ``done=true|false``, ``priority=low|normal|high``,
                                       ``q=<text in title or description>``,
                                       ``due_before=YYYY-MM-DD``,
                                       ``sort=id|-id|title|-title|due|-due|priority|-priority``,
                                       ``limit=1..1000`` (default 100), ``offset>=0``;
                                       header ``X-Total-Count`` = matches before paging
POST       /api/v1/tasks               201 the new task, ``Location: /api/v1/tasks/<id>``
GET        /api/v1/tasks/<id>          200 the task, or 404
PUT        /api/v1/tasks/<id>          200 the task replaced (``title`` required; omitted
                                       fields take their defaults), or 404
PATCH      /api/v1/tasks/<id>          200 the task with only the given fields changed
DELETE     /api/v1/tasks/<id>          204 no content, or 404
GET        /health                     200 ``{"status": "ok", "tasks": <count>}``
GET        /openapi.json               200 the OpenAPI 3 document of this API
GET        /                           200 links to the above
=========  ==========================  ===============================================

Representations: the GET routes of the collection and of a task answer in
JSON (``application/json``, the default), XML (``application/xml``) or HTML
(``text/html``) according to the request's ``Accept`` header, and with
**406 Not Acceptable** when it accepts none of them.  Request bodies must be
``Content-Type: application/json`` (else **415**), a JSON object (else
**400**) with known fields of the right types (else **400**).  A method the
URI does not support answers **405** with an ``Allow`` header.  Every error
has a JSON body ``{"status": 404, "error": "Not Found", "message": "..."}``;
the service never answers 500 to a bad request.

Conditional requests (RFC 9110 §13): every task and every listing carries a
strong ``ETag`` (one per representation: the JSON, XML and HTML of a task
have different tags), also on the answers to POST, PUT and PATCH.  A GET with
``If-None-Match`` naming the current tag answers **304 Not Modified** with no
body.  PUT, PATCH and DELETE with ``If-Match`` answer **412 Precondition
Failed** unless one of its tags is current (``*`` matches any existing task),
so that a client cannot overwrite a change it has not seen (the *lost
update*); without ``If-Match`` they proceed as before.

Storage is SQLite: the data of a database file survive a restart of the
service.  ``create_app(db_path=None)`` uses a fresh temporary file;
``db_path=":memory:"`` keeps the data in memory for the app's lifetime.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import copy
import datetime as _dt
import hashlib
import html
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from xml.etree import ElementTree as ET

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from helpers.core.errors import WorkbookError  # standard library only: the module still runs with nothing but Flask

API_PREFIX = "/api/v1"
PRIORITIES = ("low", "normal", "high")
SORTS = ("id", "-id", "title", "-title", "due", "-due", "priority", "-priority")
REPRESENTATIONS = ("application/json", "application/xml", "text/html")
FIELDS = ("title", "description", "done", "priority", "due")
DEFAULTS = {"description": "", "done": False, "priority": "normal", "due": None}
TITLE_MAX, DESCRIPTION_MAX = 200, 2000
LIMIT_MAX, LIMIT_DEFAULT, OFFSET_MAX = 1000, 100, 2**31 - 1
SQLITE_INT_MAX = 2**63 - 1

#: The tasks a new database starts with (also in data/tasks/tasks-seed.json).
SEED_TASKS = [
    {"title": "Read the REST principles (§2.5.1)", "description": "Client-server, stateless, cache, uniform interface, layers.",
     "done": True, "priority": "normal", "due": "2026-02-02"},
    {"title": "Write an HTTP request by hand", "description": "Request line, headers, CRLF, body.",
     "done": True, "priority": "low", "due": None},
    {"title": "Design the URIs of the tasks API", "description": "Collections, identifiers, filters, version.",
     "done": False, "priority": "high", "due": "2026-02-16"},
    {"title": "Implement the PUT route", "description": "Replace a task; answer 404 for an unknown id.",
     "done": False, "priority": "high", "due": "2026-02-23"},
    {"title": "Containerise the tasks service", "description": "One image, a volume for the database.",
     "done": False, "priority": "normal", "due": None},
]

_SEED_FILE = Path(__file__).resolve().parent.parent / "data" / "tasks" / "tasks-seed.json"
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_INT_RE = re.compile(r"^[0-9]+$")
# "Not blank": at least one character that is not whitespace.  Spelled out
# (rather than \S) because JSON Schema patterns follow JavaScript, whose
# whitespace differs from Python's (U+001C counts as space only in Python).
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
# Characters XML 1.0 cannot carry at all (not even as &#..;): shown as U+FFFD.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    done        INTEGER NOT NULL DEFAULT 0,
    priority    TEXT    NOT NULL DEFAULT 'normal',
    due         TEXT
)"""


class ApiError(Exception):
    """A client error answered as ``{"status", "error", "message"}`` JSON."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# --------------------------------------------------------------------------- storage

def seed_tasks() -> list[dict]:
    """The seed tasks: data/tasks/tasks-seed.json when present, else the built-in copy."""
    try:
        return json.loads(_SEED_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return copy.deepcopy(SEED_TASKS)


class TaskStore:
    """The tasks, kept in an SQLite database (the service's data layer).

    ``TaskStore("tasks.db")`` opens (or creates) a file whose data survive
    restarts; ``TaskStore(None)`` uses a fresh temporary file and
    ``TaskStore(":memory:")`` a database that lives as long as the store.
    A *new* database is filled with :func:`seed_tasks` unless ``seed=False``.
    Each operation opens its own short connection, so one store can be used
    from the threads of a threaded server.  Values are assumed valid (see
    :func:`validate_task`).
    """

    def __init__(self, db_path: str | os.PathLike | None = None, *, seed: bool = True):
        self._keeper = None
        if db_path is None:
            folder = tempfile.mkdtemp(prefix="tasks-")
            atexit.register(shutil.rmtree, folder, True)
            db_path = os.path.join(folder, "tasks.db")
        if str(db_path) == ":memory:":
            # One shared in-memory database for all connections, kept alive
            # by a connection that lives as long as the store.
            self.path = ":memory:"
            self._uri = f"file:tasks-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._keeper = self._connect()
        else:
            path = Path(db_path).expanduser().resolve()
            if path.is_dir():
                raise WorkbookError(f"{path} is a folder; give the path of a database file inside it, "
                                    f"e.g. {path / 'tasks.db'}.")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkbookError(f"Cannot create the folder for the tasks database {path} ({exc.strerror}); "
                                    f"choose a path you can write to.") from None
            self.path = str(path)
            self._uri = path.as_uri() + "?mode=rwc"
        try:
            with self._connection() as conn:
                exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='tasks'").fetchone()
                conn.execute(SCHEMA)
                if seed and not exists:
                    for task in seed_tasks():
                        self._insert(conn, {**DEFAULTS, **task})
        except sqlite3.Error as exc:
            raise WorkbookError(f"Cannot use {self.path} as the tasks database ({exc}): give the path of a new "
                                f"file or of an SQLite file made by this service, in a folder you can write to.") from None

    def __repr__(self) -> str:
        return f"<TaskStore {self.path} ({self.count()} tasks)>"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._uri, uri=True, timeout=10, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    @contextlib.contextmanager
    def _connection(self):
        conn = self._connect()
        try:
            with conn:  # commit on success, roll back on error
                yield conn
        finally:
            conn.close()

    @staticmethod
    def _insert(conn: sqlite3.Connection, task: dict) -> int:
        cur = conn.execute("INSERT INTO tasks (title, description, done, priority, due) VALUES (?, ?, ?, ?, ?)",
                           (task["title"], task["description"], int(task["done"]), task["priority"], task["due"]))
        return cur.lastrowid

    @staticmethod
    def _task(row: sqlite3.Row) -> dict:
        return {"id": row["id"], "title": row["title"], "description": row["description"],
                "done": bool(row["done"]), "priority": row["priority"], "due": row["due"]}

    def count(self) -> int:
        with self._connection() as conn:
            return conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]

    def list(self, *, done: bool | None = None, priority: str | None = None, q: str | None = None,
             due_before: str | None = None, sort: str = "id", limit: int = LIMIT_DEFAULT,
             offset: int = 0) -> tuple[list[dict], int]:
        """The tasks that match every given filter, sorted and paged, and how many matched."""
        where, params = [], []
        if done is not None:
            where.append("done = ?")
            params.append(int(done))
        if priority is not None:
            where.append("priority = ?")
            params.append(priority)
        if q is not None:
            where.append("instr(lower(title || ' ' || description), lower(?)) > 0")
            params.append(q)
        if due_before is not None:
            where.append("due IS NOT NULL AND due < ?")
            params.append(due_before)
        sql_where = (" WHERE " + " AND ".join(where)) if where else ""
        key = sort.lstrip("-")
        order = "DESC" if sort.startswith("-") else "ASC"
        order_by = {"id": f"id {order}", "title": f"title {order}",
                    "due": f"due IS NULL, due {order}",  # undated tasks last in both orders
                    "priority": f"CASE priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END {order}"}[key]
        with self._connection() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM tasks{sql_where}", params).fetchone()[0]
            rows = conn.execute(f"SELECT * FROM tasks{sql_where} ORDER BY {order_by}, id LIMIT ? OFFSET ?",
                                params + [limit, offset]).fetchall()
        return [self._task(r) for r in rows], total

    def get(self, task_id: int) -> dict | None:
        """The task with this id, or None."""
        if not 0 <= task_id <= SQLITE_INT_MAX:  # SQLite integers are 64-bit: no such row
            return None
        with self._connection() as conn:
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return self._task(row) if row else None

    def add(self, fields: dict) -> dict:
        """Store a new task (missing fields take their defaults) and return it with its id."""
        with self._connection() as conn:
            task_id = self._insert(conn, {**DEFAULTS, **fields})
        return self.get(task_id)

    def update(self, task_id: int, fields: dict, *, check=None) -> dict | None:
        """Change the given fields of a task; the task as stored, or None if there is none.

        ``check``, if given, is called with the stored task before anything
        changes and may raise to stop the update (the service's ``If-Match``).
        Reading, checking and writing happen in one write transaction, so no
        other client's update can slip in between the check and the change.
        """
        if not 0 <= task_id <= SQLITE_INT_MAX:
            return None
        fields = {k: (int(v) if k == "done" else v) for k, v in fields.items() if k in FIELDS}
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            if check is not None:
                check(self._task(row))  # an exception rolls the transaction back
            if fields:
                assignments = ", ".join(f"{name} = ?" for name in fields)
                conn.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", [*fields.values(), task_id])
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return self._task(row)

    def replace(self, task_id: int, fields: dict, *, check=None) -> dict | None:
        """Replace a task: the given fields, the defaults for the others; None if there is none."""
        return self.update(task_id, {**DEFAULTS, **fields}, check=check)

    def delete(self, task_id: int, *, check=None) -> bool:
        """Delete a task; False if there was none.  ``check`` as for :meth:`update`."""
        if not 0 <= task_id <= SQLITE_INT_MAX:
            return False
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                return False
            if check is not None:
                check(self._task(row))
            conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
        return True


# --------------------------------------------------------------------------- input

def _parse_query(args) -> dict:
    """Validate the list filters; a bad value is a 400, unknown parameters are ignored."""
    out: dict = {}
    done = args.get("done")
    if done is not None:
        if done not in ("true", "false"):
            raise ApiError(400, f"Query parameter 'done' must be 'true' or 'false', not {done!r}.")
        out["done"] = done == "true"
    priority = args.get("priority")
    if priority is not None:
        if priority not in PRIORITIES:
            raise ApiError(400, f"Query parameter 'priority' must be one of {', '.join(PRIORITIES)}, not {priority!r}.")
        out["priority"] = priority
    q = args.get("q")
    if q is not None:
        out["q"] = q
    due_before = args.get("due_before")
    if due_before is not None:
        out["due_before"] = _check_date(due_before, "Query parameter 'due_before'")
    sort = args.get("sort", "id")
    if sort not in SORTS:
        raise ApiError(400, f"Query parameter 'sort' must be one of {', '.join(SORTS)}, not {sort!r}.")
    out["sort"] = sort
    out["limit"] = _int_param(args, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX)
    out["offset"] = _int_param(args, "offset", 0, 0, OFFSET_MAX)
    return out


def _int_param(args, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not _INT_RE.match(raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"Query parameter {name!r} must be a whole number from {low} to {high}, not {raw!r}.")
    return int(raw)


def _check_date(value, what: str) -> str:
    if isinstance(value, str) and _DATE_RE.match(value):
        try:
            _dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise ApiError(400, f"{what} must be a date written YYYY-MM-DD, not {value!r}.")


def _json_body() -> dict:
    """The request's JSON object, or a 415/400 that says what is wrong."""
    if request.mimetype != "application/json":
        got = request.mimetype or "no Content-Type"
        raise ApiError(415, f"Send the task as JSON with 'Content-Type: application/json' (got {got}).")
    try:
        body = json.loads(request.get_data(cache=True) or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"The body must be a JSON object with the task's fields, not a JSON {type(body).__name__}.")
    return body


def validate_task(body: dict, *, partial: bool = False) -> dict:
    """Check the fields of a task sent by a client; return the valid ones.

    ``partial=False`` (POST, PUT) requires ``title`` and fills in defaults;
    ``partial=True`` (PATCH) accepts any subset of the fields.
    """
    if "id" in body:
        raise ApiError(400, "Field 'id' is assigned by the server; leave it out of the body.")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(400, f"Unknown field(s) {', '.join(map(repr, unknown))}; a task has {', '.join(FIELDS)}.")
    if not partial and "title" not in body:
        raise ApiError(400, "Field 'title' is required.")
    out = {} if partial else dict(DEFAULTS)
    for name, value in body.items():
        if name == "title":
            if not isinstance(value, str) or not 1 <= len(value) <= TITLE_MAX or not re.search(NOT_BLANK, value):
                raise ApiError(400, f"Field 'title' must be a non-blank string of at most {TITLE_MAX} characters.")
        elif name == "description":
            if not isinstance(value, str) or len(value) > DESCRIPTION_MAX:
                raise ApiError(400, f"Field 'description' must be a string of at most {DESCRIPTION_MAX} characters.")
        elif name == "done":
            if not isinstance(value, bool):
                raise ApiError(400, f"Field 'done' must be true or false, not {json.dumps(value)[:40]}.")
        elif name == "priority":
            if value not in PRIORITIES:
                raise ApiError(400, f"Field 'priority' must be one of {', '.join(PRIORITIES)}.")
        elif name == "due" and value is not None:
            _check_date(value, "Field 'due'")
        out[name] = value
    return out


# --------------------------------------------------------------------------- output

def negotiate() -> str:
    """The media type to answer with, chosen from the ``Accept`` header, or a 406."""
    if not request.headers.get("Accept", "").strip():
        return "application/json"
    # Werkzeug matches media-type parameters too: "text/html; charset=UTF-8" (the chapter's
    # example) does not match a bare "text/html" offer.  Every representation is sent in
    # UTF-8, so each is also offered with that parameter, then the parameter is dropped.
    offers = [variant for media_type in REPRESENTATIONS for variant in (media_type, f"{media_type}; charset=utf-8")]
    best = request.accept_mimetypes.best_match(offers)
    if best is not None:
        best = best.split(";", 1)[0]
    if best is None:
        raise ApiError(406, f"This resource is available as {', '.join(REPRESENTATIONS)}; "
                            f"the request accepts only {request.headers.get('Accept')!r}.")
    return best


# Validators.  Every representation carries a strong ETag: the first 128 bits of
# a SHA-256 of the media type and the canonical JSON of the data it shows (and,
# for a listing, of the X-Total-Count it sends).  A hash of the stored data
# rather than a version counter kept in SQLite, because:
# - nothing is stored: no extra column, so database files made by earlier
#   versions of the service (a Docker volume) keep working without a migration,
#   and no write path can forget to bump a counter;
# - a listing needs no bookkeeping either: its tag hashes what it shows, so it
#   changes whenever a task in it changes, is added or deleted (the total
#   changes), and differs between queries, pages and sort orders that show
#   different things; with counters, a deletion (no row left to count) would
#   need one more, table-wide counter;
# - the tag of each representation (JSON, XML, HTML: different bytes, so
#   different strong tags) is computed without rendering it, which If-Match
#   needs (a client may have read the XML), and replicas reading one database
#   give the same tag for the same task.
# The price: a task changed and changed back gets its old tag back.  That is
# harmless for If-Match: whoever holds that tag has seen exactly the current
# state, so the update it sends loses nobody's change.

def etag_of(data, mimetype: str = "application/json", total: int | None = None) -> str:
    """The strong entity tag (unquoted) of ``data``, a task or a list of tasks, represented as ``mimetype``."""
    canonical = json.dumps({"type": mimetype, "data": data, "total": total}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]


def check_if_match(task: dict) -> None:
    """A 412 unless the request's ``If-Match`` names the task as it is now.

    No ``If-Match`` header: the request proceeds (clients that do not use
    validators keep working).  ``If-Match: *`` matches any existing task.
    Otherwise one of the listed tags must equal, by strong comparison (RFC 9110
    §13.1.1), the tag of one of the task's current representations.
    """
    if "If-Match" not in request.headers:
        return
    tags = {etag_of(task, mimetype) for mimetype in REPRESENTATIONS}
    if not any(request.if_match.contains(tag) for tag in tags):
        raise ApiError(412, f"Task {task['id']} is no longer the version named in If-Match (its ETag is now "
                            f"\"{etag_of(task)}\"): GET it again and redo your change on what it is now.")


def _xml_text(value) -> str:
    if value is None:
        return ""
    text = "true" if value is True else "false" if value is False else str(value)
    return _XML_ILLEGAL.sub("\ufffd", text)


def _task_element(task: dict) -> ET.Element:
    element = ET.Element("task")
    for name in ("id",) + FIELDS:
        child = ET.SubElement(element, name)
        if task[name] is None:
            child.set("nil", "true")
        child.text = _xml_text(task[name])
    return element


def _html_page(title: str, tasks: list[dict]) -> str:
    cols = ("id",) + FIELDS
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_xml_text(t[c]))}</td>" for c in cols) + "</tr>\n"
                   for t in tasks)
    head = "".join(f"<th>{c}</th>" for c in cols)
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n<table border=\"1\">\n<tr>{head}</tr>\n{rows}</table>\n"
            f"</body></html>\n")


def represent(data, *, headers: dict | None = None, total: int | None = None) -> Response:
    """Answer a GET with ``data`` (a task, or a list of ``total`` matching tasks) in the representation
    the client accepts, with its ``ETag``; ``304 Not Modified`` when ``If-None-Match`` names that tag."""
    mimetype = negotiate()
    if mimetype == "application/xml":
        root = ET.Element("tasks") if isinstance(data, list) else _task_element(data)
        if isinstance(data, list):
            for task in data:
                root.append(_task_element(task))
        body = ET.tostring(root, encoding="unicode", xml_declaration=True)
        response = Response(body, mimetype="application/xml")
    elif mimetype == "text/html":
        title = "Tasks" if isinstance(data, list) else f"Task {data['id']}"
        response = Response(_html_page(title, data if isinstance(data, list) else [data]), mimetype="text/html")
    else:
        response = jsonify(data)
    response.headers.update(headers or {})
    response.headers["Vary"] = "Accept"
    tag = etag_of(data, mimetype, total)
    response.set_etag(tag)
    # Not response.make_conditional(request): besides If-None-Match it also
    # evaluates If-Match, where Werkzeug answers 'If-Match: *' with a 412 that
    # carries the task as its body.  If-None-Match uses the weak comparison.
    if request.if_none_match.contains_weak(tag):
        response.status_code = 304  # Werkzeug sends no body and drops Content-Type/-Length
    return response


def _json_task(task: dict, status: int = 200) -> Response:
    """A task as the JSON answer to a POST, PUT or PATCH, with its ETag."""
    response = jsonify(task)
    response.status_code = status
    response.set_etag(etag_of(task))
    return response


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    from werkzeug.http import HTTP_STATUS_CODES
    response = jsonify({"status": status, "error": HTTP_STATUS_CODES.get(status, "Error"), "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


# --------------------------------------------------------------------------- the app

def create_app(db_path: str | os.PathLike | None = None, seed: bool = True) -> Flask:
    """The tasks service as a Flask app (see the module's docstring for the API).

    ``db_path``: an SQLite file that persists across restarts (created if
    missing), ``None`` for a fresh temporary file, or ``":memory:"``.
    ``seed``: fill a *new* database with :func:`seed_tasks`.
    """
    app = Flask("tasks_service")
    app.json.sort_keys = False  # keep the fields in the order of the docs
    store = TaskStore(db_path, seed=seed)
    app.config["TASKS_DB"] = store.path
    app.extensions["tasks_store"] = store

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _error(exc.status, exc.message, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        headers = dict(exc.get_response().headers)
        headers.pop("Content-Type", None)
        headers.pop("Content-Length", None)
        if exc.code == 404:
            message = f"There is no resource at {request.path}; the tasks are at {API_PREFIX}/tasks."
        elif exc.code == 405:
            message = f"{request.method} is not supported on {request.path}; use {headers.get('Allow', '?')}."
        else:
            message = exc.description or exc.name
        return _error(exc.code or 500, message, headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # a bug: say so in JSON rather than an HTML page
        app.logger.exception("unexpected error")
        return _error(500, f"The service failed on this request ({type(exc).__name__}); this is a bug in the service.")

    @app.get("/")
    def index():
        return {"service": "tasks", "version": "1", "links": {
            "tasks": f"{API_PREFIX}/tasks", "health": "/health", "openapi": "/openapi.json"}}

    @app.get("/health")
    def health():
        return {"status": "ok", "tasks": store.count()}

    @app.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document(request.host_url.rstrip("/")))

    @app.get(f"{API_PREFIX}/tasks")
    def list_tasks():
        query = _parse_query(request.args)
        negotiate()  # answer 406 before doing the work
        tasks, total = store.list(**query)
        return represent(tasks, headers={"X-Total-Count": str(total)}, total=total)

    @app.post(f"{API_PREFIX}/tasks")
    def create_task():
        task = store.add(validate_task(_json_body()))
        response = _json_task(task, 201)
        response.headers["Location"] = f"{API_PREFIX}/tasks/{task['id']}"
        return response

    def existing(task_id: int) -> dict:
        task = store.get(task_id)
        if task is None:
            raise ApiError(404, f"There is no task with id {task_id}.")
        return task

    @app.get(f"{API_PREFIX}/tasks/<int:task_id>")
    def get_task(task_id: int):
        negotiate()
        return represent(existing(task_id))

    # PUT, PATCH and DELETE check If-Match twice: first, so that a stale tag is
    # a 412 before the body is even looked at (RFC 9110 §13.2.1: preconditions
    # come before processing the content; only the 404 comes first); then
    # inside the store's write transaction, so that another client's change
    # cannot slip in between the check and this one.
    @app.put(f"{API_PREFIX}/tasks/<int:task_id>")
    def replace_task(task_id: int):
        check_if_match(existing(task_id))
        task = store.replace(task_id, validate_task(_json_body()), check=check_if_match)
        return _json_task(task or existing(task_id))

    @app.patch(f"{API_PREFIX}/tasks/<int:task_id>")
    def patch_task(task_id: int):
        check_if_match(existing(task_id))
        task = store.update(task_id, validate_task(_json_body(), partial=True), check=check_if_match)
        return _json_task(task or existing(task_id))

    @app.delete(f"{API_PREFIX}/tasks/<int:task_id>")
    def delete_task(task_id: int):
        check_if_match(existing(task_id))
        if not store.delete(task_id, check=check_if_match):
            raise ApiError(404, f"There is no task with id {task_id}.")
        return "", 204

    return app


# --------------------------------------------------------------------------- the contract

def openapi_document(server_url: str = "http://127.0.0.1:5000") -> dict:
    """The OpenAPI 3.0 description of the API (served at ``/openapi.json``)."""
    error = {"$ref": "#/components/responses/Error"}
    etag = {"ETag": {"$ref": "#/components/headers/ETag"}}
    # Written out, not $ref'd: notebook 03 prints each parameter's name and schema.
    if_none_match = {"name": "If-None-Match", "in": "header", "schema": {"type": "string"},
                     "description": "ETags of the copy the client holds, or *: 304 when one is current."}
    if_match = {"name": "If-Match", "in": "header", "schema": {"type": "string"},
                "description": "ETags of the version the change is based on, or * (any existing task): "
                               "412 when none is current. Without it the change is made anyway."}
    not_modified = {"$ref": "#/components/responses/NotModified"}
    task_id = {"name": "task_id", "in": "path", "required": True, "description": "The task's identifier.",
               "schema": {"type": "integer", "minimum": 1}}
    representations = {
        "application/json": {"schema": None},
        "application/xml": {"schema": {"type": "string"}},
        "text/html": {"schema": {"type": "string"}},
    }

    def negotiated(schema: dict) -> dict:
        return {k: ({"schema": schema} if v["schema"] is None else v) for k, v in representations.items()}

    def fields(required: bool) -> dict:
        props = {
            "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX, "pattern": NOT_BLANK,
                      "description": "What to do (not blank)."},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX, "default": ""},
            "done": {"type": "boolean", "default": False},
            "priority": {"type": "string", "enum": list(PRIORITIES), "default": "normal"},
            "due": {"type": "string", "format": "date", "nullable": True, "default": None,
                    "description": "Due date, YYYY-MM-DD, or null."},
        }
        schema = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            schema["required"] = ["title"]
        return schema

    json_body = lambda ref: {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}
    task_ref = {"$ref": "#/components/schemas/Task"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Tasks service", "version": "1.0.0",
                 "description": "The reference RESTful service of the workbook (chapter §2.5.3-§2.5.4). "
                                "Collections, identifiers and filters in the URI; CRUD with the HTTP "
                                "methods; JSON, XML or HTML chosen with Accept; ETags for conditional "
                                "GET (304) and for updates that refuse to overwrite a newer version (412)."},
        "servers": [{"url": server_url}],
        "paths": {
            f"{API_PREFIX}/tasks": {
                "get": {
                    "operationId": "listTasks", "summary": "List the tasks, filtered by the query string",
                    "parameters": [
                        {"name": "done", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
                        {"name": "priority", "in": "query", "schema": {"type": "string", "enum": list(PRIORITIES)}},
                        {"name": "q", "in": "query", "description": "Text contained in the title or description.",
                         "schema": {"type": "string"}},
                        {"name": "due_before", "in": "query", "schema": {"type": "string", "format": "date"}},
                        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS), "default": "id"}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT}},
                        {"name": "offset", "in": "query",
                         "schema": {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX, "default": 0}},
                        if_none_match,
                    ],
                    "responses": {
                        "200": {"description": "The matching tasks.",
                                "headers": {"X-Total-Count": {"description": "Matches before limit/offset.",
                                                              "schema": {"type": "integer", "minimum": 0}},
                                            **etag},
                                "content": negotiated({"type": "array", "items": task_ref})},
                        "304": not_modified, "400": error, "406": error},
                },
                "post": {
                    "operationId": "createTask", "summary": "Create a task",
                    "requestBody": json_body("#/components/schemas/TaskInput"),
                    "responses": {
                        "201": {"description": "Created.",
                                "headers": {"Location": {"description": "URI of the new task.", "required": True,
                                                         "schema": {"type": "string"}}, **etag},
                                "content": {"application/json": {"schema": task_ref}},
                                "links": {"GetTask": {"operationId": "getTask",
                                                      "parameters": {"task_id": "$response.body#/id"}},
                                          "DeleteTask": {"operationId": "deleteTask",
                                                         "parameters": {"task_id": "$response.body#/id",
                                                                        "header.If-Match": "$response.header.ETag"}}}},
                        "400": error, "415": error},
                },
            },
            f"{API_PREFIX}/tasks/{{task_id}}": {
                "parameters": [task_id],
                "get": {"operationId": "getTask", "summary": "Get one task",
                        "parameters": [if_none_match],
                        "responses": {"200": {"description": "The task.", "headers": etag,
                                              "content": negotiated(task_ref)},
                                      "304": not_modified, "404": error, "406": error}},
                "put": {"operationId": "replaceTask", "summary": "Replace a task",
                        "parameters": [if_match],
                        "requestBody": json_body("#/components/schemas/TaskInput"),
                        "responses": {"200": {"description": "The task as stored.", "headers": etag,
                                              "content": {"application/json": {"schema": task_ref}}},
                                      "400": error, "404": error, "412": error, "415": error}},
                "patch": {"operationId": "updateTask", "summary": "Change some fields of a task",
                          "parameters": [if_match],
                          "requestBody": json_body("#/components/schemas/TaskPatch"),
                          "responses": {"200": {"description": "The task as stored.", "headers": etag,
                                                "content": {"application/json": {"schema": task_ref}}},
                                        "400": error, "404": error, "412": error, "415": error}},
                "delete": {"operationId": "deleteTask", "summary": "Delete a task",
                           "parameters": [if_match],
                           "responses": {"204": {"description": "Deleted; no content."}, "404": error,
                                         "412": error}},
            },
            "/health": {"get": {"operationId": "health", "summary": "Liveness and size",
                                "responses": {"200": {"description": "The service works.", "content": {
                                    "application/json": {"schema": {
                                        "type": "object", "required": ["status", "tasks"],
                                        "properties": {"status": {"type": "string", "enum": ["ok"]},
                                                       "tasks": {"type": "integer", "minimum": 0}}}}}}}}},
        },
        "components": {
            "schemas": {
                "Task": {"type": "object", "additionalProperties": False,
                         "required": ["id", *FIELDS],
                         "properties": {"id": {"type": "integer", "minimum": 1},
                                        **{k: {kk: vv for kk, vv in v.items() if kk not in ("default",)}
                                           for k, v in fields(False)["properties"].items()}}},
                "TaskInput": fields(True),
                "TaskPatch": fields(False),
                "Error": {"type": "object", "required": ["status", "error", "message"],
                          "properties": {"status": {"type": "integer"}, "error": {"type": "string"},
                                         "message": {"type": "string"}}},
            },
            "responses": {"Error": {"description": "The request cannot be served; the message says why.",
                                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                          "NotModified": {"description": "Not Modified: the representation still has the ETag named "
                                                         "in If-None-Match; use the copy you have (no body).",
                                          "headers": etag}},
            "headers": {"ETag": {"description": "Strong entity tag of this representation; it changes when the "
                                                "data shown change.", "required": True,
                                 "schema": {"type": "string", "pattern": '^"[0-9a-f]{32}"$'}}},
        },
    }



#: Schemathesis's configuration for testing this contract (``st --config-file``).
#: PUT, PATCH and DELETE of a task answer a stale or made-up ``If-Match`` with
#: 412 however valid the rest of the request is.  Like 404 (no such task) and
#: 409, which schemathesis already expects, that is an answer about the
#: server's state, not the request's form, and no schema can say which ETag is
#: current; and when a request is both malformed and stale the precondition is
#: evaluated first (RFC 9110 §13.2.1), so a 412 is a rejection of invalid data
#: too.  Hence, for those three operations only, schemathesis's default
#: expected statuses plus 412, and no warning that "generated data were mostly
#: rejected" (the rejections are the refused made-up tags).  Schemathesis 4
#: decides that warning with the global display list, so it is silenced by
#: leaving both warnings of that family out of the operations' own list
#: (validation_mismatch and missing_test_data: then it does not look at all).
SCHEMATHESIS_CONFIG = """
[[operations]]
include-operation-id = ["replaceTask", "updateTask", "deleteTask"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
checks.negative_data_rejection.expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415",
                                                    "422", "428", "429", "5xx"]
warnings.display = ["missing_auth", "base_url_mismatch", "missing_deserializer", "unused_openapi_auth",
                    "unsupported_regex", "method_not_allowed", "constants_extraction", "unmatched_filter",
                    "unresolvable_reference", "rate_limited", "dictionary_mismatch", "timeout_units"]
"""

# --------------------------------------------------------------------------- as a program

def package_into(folder: str | os.PathLike) -> Path:
    """Copy this service into ``folder/helpers/``, for a container image's build context.

    The image needs only this module, the workbook modules it imports
    (``from helpers.core.errors import ...``, followed transitively) and an
    ``__init__.py`` in each package folder, not the whole workbook.  Returns the
    package folder.
    """
    package = Path(folder) / "helpers"
    root = Path(__file__).resolve().parent.parent  # the helpers/ package
    todo, seen = ["services.tasks"], set()
    while todo:
        dotted = todo.pop()
        if dotted in seen:
            continue
        seen.add(dotted)
        source = root / (dotted.replace(".", "/") + ".py")
        target = package / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        found = re.findall(r"^\s*from helpers\.([\w.]+) import", source.read_text(), re.M)
        todo += [d for d in found if (root / (d.replace(".", "/") + ".py")).exists()]  # modules, not packages
    for folder_ in [package, *(p for p in package.rglob("*") if p.is_dir())]:
        init = folder_ / "__init__.py"
        if not init.exists():
            init.write_text('"""Only the modules the tasks service needs."""\n')
    return package


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.services.tasks",
                                     description="Run the reference RESTful tasks service.")
    parser.add_argument("--host", default=os.environ.get("TASKS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TASKS_PORT", os.environ.get("PORT", "5000"))))
    parser.add_argument("--db", default=os.environ.get("TASKS_DB") or None,
                        help="SQLite file (default $TASKS_DB, else a temporary file)")
    parser.add_argument("--no-seed", action="store_true", help="start a new database empty")
    args = parser.parse_args(argv)
    # As PID 1 in a container, Python ignores SIGTERM unless it handles it:
    # without this, `docker stop` would wait 10 s and then kill us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app(args.db, seed=not args.no_seed)
    print(f"tasks service: database {app.config['TASKS_DB']}, http://{args.host}:{args.port}{API_PREFIX}/tasks",
          flush=True)
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
