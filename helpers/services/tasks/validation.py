"""What a client sends: the query string of a listing and the JSON body of a task, checked field by field.

Every mistake is an :class:`ApiError`, answered as a 4xx with a JSON body that says what to fix.
"""

from __future__ import annotations

import datetime as _dt
import json
import re

from flask import request

from helpers.services.tasks.store import (DEFAULTS, DESCRIPTION_MAX, FIELDS, LIMIT_DEFAULT, LIMIT_MAX, NOT_BLANK,
                                          OFFSET_MAX, PRIORITIES, SORTS, TITLE_MAX)

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_INT_RE = re.compile(r"^[0-9]+$")


class ApiError(Exception):
    """A client error answered as ``{"status", "error", "message"}`` JSON."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}



def parse_query(args) -> dict:
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


def request_json() -> dict:
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

