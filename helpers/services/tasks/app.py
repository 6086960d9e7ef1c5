"""The tasks service as a Flask app: the routes of the API (see the package's docstring)."""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from helpers.services.tasks.openapi import openapi_document
from helpers.services.tasks.representations import error_response, json_task, check_if_match, negotiate, represent
from helpers.services.tasks.store import API_PREFIX, TaskStore
from helpers.services.tasks.validation import ApiError, request_json, parse_query, validate_task


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
        return error_response(exc.status, exc.message, exc.headers)

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
        return error_response(exc.code or 500, message, headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # a bug: say so in JSON rather than an HTML page
        app.logger.exception("unexpected error")
        return error_response(500, f"The service failed on this request ({type(exc).__name__}); this is a bug in the service.")

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
        query = parse_query(request.args)
        negotiate()  # answer 406 before doing the work
        tasks, total = store.list(**query)
        return represent(tasks, headers={"X-Total-Count": str(total)}, total=total)

    @app.post(f"{API_PREFIX}/tasks")
    def create_task():
        task = store.add(validate_task(request_json()))
        response = json_task(task, 201)
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
        task = store.replace(task_id, validate_task(request_json()), check=check_if_match)
        return json_task(task or existing(task_id))

    @app.patch(f"{API_PREFIX}/tasks/<int:task_id>")
    def patch_task(task_id: int):
        check_if_match(existing(task_id))
        task = store.update(task_id, validate_task(request_json(), partial=True), check=check_if_match)
        return json_task(task or existing(task_id))

    @app.delete(f"{API_PREFIX}/tasks/<int:task_id>")
    def delete_task(task_id: int):
        check_if_match(existing(task_id))
        if not store.delete(task_id, check=check_if_match):
            raise ApiError(404, f"There is no task with id {task_id}.")
        return "", 204

    return app

