"""The contract of the tasks service: its OpenAPI 3 document, and how schemathesis should test it."""

from __future__ import annotations

from helpers.services.tasks.store import (API_PREFIX, DESCRIPTION_MAX, FIELDS, LIMIT_DEFAULT, LIMIT_MAX, NOT_BLANK,
                                          OFFSET_MAX, PRIORITIES, SORTS, TITLE_MAX)


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

    def write(operation_id: str, summary: str, body_ref: str) -> dict:
        """PUT and PATCH of a task: a JSON body, If-Match, the task as stored (with its ETag) or an error."""
        return {"operationId": operation_id, "summary": summary, "parameters": [if_match],
                "requestBody": json_body(body_ref),
                "responses": {"200": {"description": "The task as stored.", "headers": etag,
                                      "content": {"application/json": {"schema": task_ref}}},
                              "400": error, "404": error, "412": error, "415": error}}
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
                "put": write("replaceTask", "Replace a task", "#/components/schemas/TaskInput"),
                "patch": write("updateTask", "Change some fields of a task", "#/components/schemas/TaskPatch"),
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
