"""The tasks themselves: their fields, the seed data and :class:`TaskStore`, the SQLite data layer.

Standard library only (plus :class:`helpers.core.errors.WorkbookError`), so that the
service runs in a container that has nothing but Python and Flask.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

from helpers.core.errors import WorkbookError  # standard library only: the service still runs with nothing but Flask

API_PREFIX = "/api/v1"
PRIORITIES = ("low", "normal", "high")
SORTS = ("id", "-id", "title", "-title", "due", "-due", "priority", "-priority")
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


# data/ of the workbook: helpers/services/tasks/store.py -> four levels up.  In a container's
# build context (package_into) there is no data/ folder: the built-in copy is used.
_SEED_FILE = Path(__file__).resolve().parents[3] / "data" / "tasks" / "tasks-seed.json"
# "Not blank": at least one character that is not whitespace.  Spelled out
# (rather than \S) because JSON Schema patterns follow JavaScript, whose
# whitespace differs from Python's (U+001C counts as space only in Python).
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    done        INTEGER NOT NULL DEFAULT 0,
    priority    TEXT    NOT NULL DEFAULT 'normal',
    due         TEXT
)"""


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

