"""The reference RESTful *tasks* service of the chapter (§2.5.3, §2.5.4.8–2.5.4.10).

A small but complete REST API built with Flask and the standard library only
(so that it runs unchanged in a container that has nothing but Debian's
``python3-flask``, Flask 2.2 or later).

Create it with :func:`create_app` and serve it with ``helpers.core.servers.serve``,
or run it as a program (see ``__main__.py``)::

    python -m helpers.services.tasks --host 0.0.0.0 --port 5000 --db /data/tasks.db

The modules, one concept each:

    store.py            the tasks' fields, the seed data, TaskStore (SQLite)
    validation.py       what a client sends: query string and JSON body, ApiError
    representations.py  what it gets back: JSON/XML/HTML, ETags, 304/412, error bodies
    app.py              create_app: the Flask routes
    openapi.py          the contract: openapi_document, SCHEMATHESIS_CONFIG
    packaging.py        package_into: the service as a container's build context
    __main__.py         python -m helpers.services.tasks

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

from helpers.services.tasks.app import create_app
from helpers.services.tasks.openapi import SCHEMATHESIS_CONFIG, openapi_document
from helpers.services.tasks.packaging import package_into
from helpers.services.tasks.store import API_PREFIX, SEED_TASKS, TaskStore, seed_tasks

__all__ = ["API_PREFIX", "SCHEMATHESIS_CONFIG", "SEED_TASKS", "TaskStore", "create_app", "openapi_document",
           "package_into", "seed_tasks"]
