"""What the service answers: content negotiation (JSON, XML, HTML), ETags and conditional requests, errors."""

from __future__ import annotations

import hashlib
import html
import json
import re
from xml.etree import ElementTree as ET

from flask import Response, jsonify, request

from helpers.services.tasks.store import FIELDS
from helpers.services.tasks.validation import ApiError

REPRESENTATIONS = ("application/json", "application/xml", "text/html")
# Characters XML 1.0 cannot carry at all (not even as &#..;): shown as U+FFFD.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


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


def json_task(task: dict, status: int = 200) -> Response:
    """A task as the JSON answer to a POST, PUT or PATCH, with its ETag."""
    response = jsonify(task)
    response.status_code = status
    response.set_etag(etag_of(task))
    return response


def error_response(status: int, message: str, headers: dict | None = None) -> Response:
    from werkzeug.http import HTTP_STATUS_CODES
    response = jsonify({"status": status, "error": HTTP_STATUS_CODES.get(status, "Error"), "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response

