"""The demo server of notebook 02 (§2.5.2): a Flask app that answers every status code the chapter
names, and :func:`status_table`, which sends it one raw request per case and tabulates the answers."""

from __future__ import annotations

import html

from helpers.services.messages import build_request
from helpers.services.rawhttp import send_raw
from helpers.services.urls import parse_url


def create_demo_app():
    """A Flask app that answers with every status code chapter §2.5.2 names, for real.

    ============================  =============================================
    ``GET /ok``                   200 with a small HTML page
    ``POST /items``               201 Created with ``Location`` (415 unless JSON,
                                  400 if the JSON has no ``name``)
    ``DELETE /items/<n>``         204 No Content
    ``GET /old-page``             301 Moved Permanently to ``/ok``
    ``GET /elsewhere``            302 Found to ``/ok``; ``/temporary`` 307
    ``GET /add?a=1&b=2``          200, or 400 Bad Request when a or b is not a number
    ``GET /private``              401 with ``WWW-Authenticate`` unless Basic auth
                                  ``student:secret`` is sent
    ``GET /admin``                401 without credentials, 403 Forbidden with ``student:secret``
    ``GET /missing``              404 (as any unknown path)
    ``DELETE /ok``                405 Method Not Allowed with ``Allow``
    ``GET /crash``                500 (a real exception in the view)
    ``PATCH /items/<n>``          501 Not Implemented
    ``GET /maintenance``          503 with ``Retry-After``
    ``GET /news``                 200 with ``Cache-Control``, ``ETag``, ``Last-Modified``,
                                  ``Expires``; 304 to a matching conditional request
    ``PUT /tareas/<id>``          201 when the task is new, 200 when it replaces one
    ``POST /echo``                201 echoing the JSON body it received
    ============================  =============================================
    """
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    from flask import Flask, abort, jsonify, redirect, request

    app = Flask("http_demo")
    app.logger.disabled = True  # /crash fails on purpose: keep its traceback out of the notebook
    items: dict[int, dict] = {}
    news_changed = datetime(2026, 1, 15, 9, 30, tzinfo=timezone.utc)
    news_body = "<html><body><h1>News</h1><p>Nothing changed since January.</p></body></html>"

    @app.get("/ok")
    def ok():
        return "<html><head><title>OK</title></head><body>Hello World!!</body></html>"

    @app.post("/items")
    def create_item():
        if not request.is_json:
            return jsonify(error="send JSON: Content-Type must be application/json"), 415
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not data.get("name"):
            return jsonify(error="the JSON body needs a non-empty 'name'"), 400
        n = max(items, default=0) + 1
        items[n] = {"id": n, "name": data["name"]}
        return jsonify(items[n]), 201, {"Location": f"/items/{n}"}

    @app.delete("/items/<int:n>")
    def delete_item(n):
        items.pop(n, None)
        return "", 204

    @app.patch("/items/<int:n>")
    def patch_item(n):
        return jsonify(error="PATCH is not implemented by this server"), 501

    @app.get("/old-page")
    def old_page():
        return redirect("/ok", code=301)

    @app.get("/elsewhere")
    def elsewhere():
        return redirect("/ok", code=302)

    @app.route("/temporary", methods=["GET", "POST"])
    def temporary():
        return redirect("/ok", code=307)

    @app.get("/add")
    def add():
        try:
            a, b = float(request.args["a"]), float(request.args["b"])
        except (KeyError, ValueError):
            return jsonify(error="give two numbers: /add?a=1&b=2"), 400
        return jsonify(a=a, b=b, sum=a + b)

    @app.get("/private")
    def private():
        auth = request.authorization
        if not auth or (auth.username, auth.password) != ("student", "secret"):
            return jsonify(error="log in first"), 401, {"WWW-Authenticate": 'Basic realm="workbook"'}
        return jsonify(message=f"welcome, {auth.username}")

    @app.get("/admin")
    def admin():
        auth = request.authorization
        if not auth or (auth.username, auth.password) != ("student", "secret"):
            return jsonify(error="log in first"), 401, {"WWW-Authenticate": 'Basic realm="workbook"'}
        return jsonify(error=f"{auth.username} is logged in but is not an administrator"), 403

    @app.get("/crash")
    def crash():
        return {"result": 1 / 0}  # a real bug: ZeroDivisionError -> 500

    @app.get("/maintenance")
    def maintenance():
        return jsonify(error="down for maintenance"), 503, {"Retry-After": "120"}

    @app.get("/news")
    def news():
        response = app.make_response(news_body)
        response.headers["Cache-Control"] = "public, max-age=60"
        response.headers["Expires"] = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
        response.last_modified = news_changed
        response.set_etag("news-v1")
        # Answers If-None-Match / If-Modified-Since with 304 and no body.
        response = response.make_conditional(request)
        # make_conditional adds its own Date, and the server's send_response adds one too: keep the server's.
        response.headers.pop("Date", None)
        return response

    tareas: dict[str, dict] = {}

    @app.put("/tareas/<task_id>")
    def put_task(task_id):
        # PUT replaces the whole resource with the representation sent: 201 if it is new, else 200.
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return jsonify(error="send the whole task as a JSON object (Content-Type: application/json)"), 400
        created = task_id not in tareas
        tareas[task_id] = data
        return (jsonify(stored=data, content_length=request.content_length), 201 if created else 200,
                {"Location": f"/tareas/{task_id}"} if created else {})

    @app.post("/echo")
    def echo():
        data = request.get_json(silent=True)
        if data is None:
            abort(400, "the body is not valid JSON")
        return jsonify(received=data, content_length=request.content_length), 201

    return app


def status_table(url: str, cases) -> str:
    """Send each ``(method, path, headers, body, meaning)`` of ``cases`` to ``url`` and tabulate the answers.

    Returns HTML: status class, status code and reason, the request, its
    meaning, and the headers that complete a status (``Location``, ``Allow``,
    ``WWW-Authenticate``, ``Retry-After``) when the response carries them.
    """
    p = parse_url(url)
    left = "text-align:left;vertical-align:top;padding:2px 10px"
    rows = []
    for method, path, headers, body, meaning in cases:
        r = send_raw(build_request(method, url.rstrip("/") + path, headers, body), p.host, p.port)
        telling = "<br>".join(f"<code>{html.escape(h)}: {html.escape(r.header(h))}</code>"
                              for h in ("Location", "Allow", "WWW-Authenticate", "Retry-After") if r.header(h))
        cells = [f"{r.status // 100}xx", f"<b>{r.status}</b> {html.escape(r.reason)}",
                 f"<code>{html.escape(method)} {html.escape(path)}</code>", html.escape(meaning), telling]
        rows.append("<tr>" + "".join(f"<td style='{left}'>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th style='{left}'>{h}</th>" for h in ("class", "status", "request", "meaning", "telling header"))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"

