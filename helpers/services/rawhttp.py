"""HTTP without a library: raw messages over a TCP socket, URLs taken apart.

* :func:`parse_url` splits a URL into scheme, host, port, path, query and
  fragment (:class:`UrlParts`); :func:`render_url` draws that anatomy as HTML.
* :func:`build_request` writes the bytes of a request message;
  :func:`send_raw` sends bytes (written by you or by :func:`build_request`)
  over a plain TCP socket and parses what comes back (:class:`RawResponse`).
* :func:`render_message` draws a request or response with its parts
  highlighted: start line, header fields, the empty CRLF line, the body.
* :func:`create_demo_app` is a small Flask app that answers every status code
  the chapter names (200, 201, 204, 3xx, 400, 401, 404, 405, 415, 500, 501,
  503) and a cacheable resource that answers conditional requests with 304.
* :func:`check_raw_request` is the checker of notebook 02's exercise (it returns a
  :class:`~helpers.core.verdict.Verdict`).

Everything that a student can get wrong (a bad URL, a host that does not
answer, a reply that is not HTTP) raises :class:`~helpers.core.errors.WorkbookError`
with one sentence.
"""

from __future__ import annotations

import html
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict

CRLF = b"\r\n"
DEFAULT_PORTS = {"http": 80, "https": 443}
#: The methods HTTP/1.1 defines (RFC 9110) plus PATCH (RFC 5789).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


# --------------------------------------------------------------------------- URLs
@dataclass
class UrlParts:
    """The pieces of an ``http``/``https`` URL (``port`` is filled with the default)."""

    url: str
    scheme: str
    host: str
    port: int
    port_is_default: bool
    path: str
    query: str
    fragment: str
    userinfo: str = ""

    @property
    def params(self) -> list[tuple[str, str]]:
        """The query string decoded into ``(name, value)`` pairs (a name may repeat)."""
        return parse_qsl(self.query, keep_blank_values=True)

    @property
    def target(self) -> str:
        """What goes on the request line: the path plus ``?query`` (never the fragment)."""
        return (self.path or "/") + (f"?{self.query}" if self.query else "")

    @property
    def authority(self) -> str:
        """What goes in the ``Host`` header: the host, plus the port when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port_is_default else f"{host}:{self.port}"


def parse_url(url: str) -> UrlParts:
    """Split an absolute ``http://`` or ``https://`` URL into its parts.

    >>> parse_url("http://example.com/data/api/user/username?kind=alumno").port
    80
    """
    if not isinstance(url, str) or not url.strip():
        raise WorkbookError("The URL is empty: write an absolute URL such as http://127.0.0.1:5000/path.")
    url = url.strip()
    if any(c.isspace() for c in url):
        raise WorkbookError(f"The URL {url!r} contains spaces: encode them as %20 (or use params=) and try again.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WorkbookError(f"{url!r} is not a valid URL ({exc}): check the host and the port number.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        hint = "add http:// in front" if not parts.scheme or "." in parts.scheme else f"{parts.scheme}: is not HTTP"
        raise WorkbookError(f"{url!r} is not an http:// or https:// URL ({hint}).")
    if not parts.hostname:
        raise WorkbookError(f"{url!r} names no host: write it as {scheme}://host:port/path.")
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return UrlParts(url=url, scheme=scheme, host=parts.hostname, port=port or DEFAULT_PORTS[scheme],
                    port_is_default=port is None or port == DEFAULT_PORTS[scheme], path=parts.path,
                    query=parts.query, fragment=parts.fragment, userinfo=userinfo)


_URL_COLOURS = {"scheme": "#1f77b4", "userinfo": "#7f7f7f", "host": "#2ca02c", "port": "#ff7f0e",
                "path": "#9467bd", "query": "#d62728", "fragment": "#8c564b"}


def render_url(url: str) -> str:
    """HTML that shows each part of ``url`` coloured and labelled, plus a table of the parts."""
    p = parse_url(url)
    s = urlsplit(p.url)
    netloc = s.netloc
    host_text = netloc.rpartition("@")[2]
    port_text = ""
    if s.port is not None:
        host_text, _, port_text = host_text.rpartition(":")
    pieces = [("scheme", s.scheme, "", "://")]
    if p.userinfo:
        pieces.append(("userinfo", p.userinfo, "", "@"))
    pieces.append(("host", host_text, "", ""))
    if port_text:
        pieces.append(("port", port_text, ":", ""))
    if s.path:
        pieces.append(("path", s.path, "", ""))
    if s.query:
        pieces.append(("query", s.query, "?", ""))
    if s.fragment:
        pieces.append(("fragment", s.fragment, "#", ""))
    boxes = []

    def box(text: str, label: str, colour: str, underline: bool) -> str:
        # Every piece, separators included, is a two-line box (text over label) so they all line up.
        border = f"border-top:3px solid {colour};" if underline else "border-top:3px solid transparent;"
        return (f'<span style="display:inline-block;vertical-align:top;text-align:center;margin:0 1px">'
                f'<span style="color:{colour};font-weight:{"bold" if underline else "normal"};white-space:pre">'
                f'{html.escape(text)}</span><br><span style="display:block;{border}font-size:70%;color:{colour}">'
                f'{label or "&nbsp;"}</span></span>')

    for name, text, before, after in pieces:
        if before:
            boxes.append(box(before, "", "#555", False))
        boxes.append(box(text, name, _URL_COLOURS[name], True))
        if after:
            boxes.append(box(after, "", "#555", False))
    rows = [("scheme", p.scheme), ("host", p.host),
            ("port", f"{p.port}" + (" (the scheme's default, not written)" if s.port is None else "")),
            ("path", p.path or "(empty: the request line uses /)"),
            ("query", p.query or "(none)"),
            ("fragment", (p.fragment + " (stays in the client: never sent)") if p.fragment else "(none)")]
    label = 'style="text-align:left;vertical-align:top;padding:1px 14px 1px 0;white-space:nowrap;'
    value = 'style="text-align:left;vertical-align:top;padding:1px 0;font-family:monospace"'
    table = ""
    for k, v in rows:
        table += f'<tr><td {label}color:{_URL_COLOURS[k]}"><b>{k}</b></td><td {value}>{html.escape(str(v))}</td></tr>'
        if k == "query":
            # Each query parameter on a row of its own, right under "query": its name in the labels'
            # column, indented by padding (not by spaces), so that every value starts in the same column.
            table += "".join(f'<tr><td {label}padding-left:1.2em;color:{_URL_COLOURS["query"]}">'
                             f'{html.escape(name)} =</td><td {value}>{html.escape(val)}</td></tr>'
                             for name, val in p.params)
    line = (f'<div style="font-family:monospace;font-size:115%;line-height:1.2">{"".join(boxes)}</div>'
            f'<div style="font-family:monospace;margin-top:4px">request line: <b>GET {html.escape(p.target)} HTTP/1.1</b>'
            f' &nbsp; Host: <b>{html.escape(p.authority)}</b></div>')
    return f'<div>{line}<table style="margin-top:4px">{table}</table></div>'


# --------------------------------------------------------------------------- messages
@dataclass
class RawResponse:
    """A response as it came off the wire, and its parsed parts."""

    raw: bytes
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    elapsed_ms: float = 0.0

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (case-insensitive), else ``default``."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    @property
    def head(self) -> bytes:
        """Status line and header fields, up to and including the empty line."""
        return self.raw.split(CRLF + CRLF, 1)[0] + CRLF + CRLF

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise WorkbookError(f"The body is not JSON (Content-Type: {self.header('Content-Type')}): "
                                f"read .text instead.") from None

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.reason}, {len(self.body)} body bytes>"


def build_request(method: str, url: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
                  body: bytes | str | None = None) -> bytes:
    """The bytes of an HTTP/1.1 request message for ``url``.

    Adds ``Host`` (required by HTTP/1.1), ``Content-Length`` when there is a
    body, and ``Connection: close`` (so that the server closes the connection
    after answering and we know where the response ends) unless given.
    """
    method = check_method(method)
    p = parse_url(url)
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    for name, value in items:
        if not _TOKEN.match(str(name)):
            raise WorkbookError(f"{name!r} is not a valid header name: use letters, digits and dashes, no spaces or colons.")
        if "\r" in str(value) or "\n" in str(value):
            raise WorkbookError(f"The value of header {name!r} contains a line break, which would end the header early.")
    names = {k.lower() for k, _ in items}
    data = body.encode() if isinstance(body, str) else (body or b"")
    head = [("Host", p.authority)] if "host" not in names else []
    head += items
    if data and "content-length" not in names:
        head.append(("Content-Length", str(len(data))))
    if "connection" not in names:
        head.append(("Connection", "close"))
    lines = [f"{method} {p.target} HTTP/1.1"] + [f"{k}: {v}" for k, v in head]
    return "\r\n".join(lines).encode("latin-1") + CRLF + CRLF + data


def check_method(method: str) -> str:
    """``method`` in upper case if HTTP knows it, else a one-sentence error."""
    m = (method or "").strip().upper()
    if m not in METHODS:
        raise WorkbookError(f"{method!r} is not an HTTP method: use one of {', '.join(METHODS)}.")
    return m


def _connect(host: str, port: int, timeout: float, tls: bool = False) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror:
        raise WorkbookError(f"The host name {host!r} cannot be resolved: check its spelling "
                            f"(this machine reaches only local servers such as 127.0.0.1).") from None
    except ConnectionRefusedError:
        raise WorkbookError(f"Nothing accepts connections on {host}:{port}: start the server first, "
                            f"or check the port.") from None
    except socket.timeout:
        raise WorkbookError(f"{host}:{port} did not accept a connection within {timeout:g} s: "
                            f"is the host reachable?") from None
    except OSError as exc:
        raise WorkbookError(f"Could not connect to {host}:{port} ({exc.strerror or exc}).") from None
    if tls:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    return sock


def send_raw(message: bytes | str, host: str = "127.0.0.1", port: int = 80, *, timeout: float = 5,
             tls: bool = False, fix_newlines: bool = False) -> RawResponse:
    """Send ``message`` as it is over a new TCP connection and read the response.

    ``message`` is sent byte for byte: HTTP wants CRLF (``\\r\\n``) line ends;
    pass ``fix_newlines=True`` to turn bare ``\\n`` into CRLF first.  The
    response is read until the server closes the connection or until the
    body announced by ``Content-Length`` (or chunked encoding) is complete.
    """
    data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    if fix_newlines:
        data = re.sub(rb"(?<!\r)\n", b"\r\n", data)
    if not data.strip():
        raise WorkbookError("The message is empty: write at least a request line such as GET / HTTP/1.1.")
    started = time.perf_counter()
    with _connect(host, port, timeout, tls) as sock:
        try:
            sock.sendall(data)
            raw = _read_response(sock, head_request=data.split(b" ", 1)[0].upper() == b"HEAD")
        except socket.timeout:
            raise WorkbookError(f"{host}:{port} sent no complete response within {timeout:g} s: does the "
                                f"message end with an empty line (CRLF CRLF) and a body as long as Content-Length?") from None
        except ConnectionResetError:
            raise WorkbookError(f"{host}:{port} closed the connection without answering: is it an HTTP server?") from None
    response = parse_response(raw)
    response.elapsed_ms = (time.perf_counter() - started) * 1000
    return response


def _read_response(sock: socket.socket, head_request: bool = False) -> bytes:
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return buf
        buf += chunk
        if CRLF + CRLF in buf and _complete(buf, head_request):
            return buf


def _complete(buf: bytes, head_request: bool) -> bool:
    head, _, body = buf.partition(CRLF + CRLF)
    lines = head.split(CRLF)
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return False
    if head_request or status in (204, 304) or 100 <= status < 200:
        return True
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.decode("latin-1").partition(":") for line in lines[1:])}
    if "content-length" in fields:
        return len(body) >= int(fields["content-length"] or 0)
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return body.endswith(b"0\r\n\r\n")
    return False  # body ends when the server closes the connection


def _split_head(raw: bytes, what: str) -> tuple[str, list[tuple[str, str]], bytes]:
    if CRLF + CRLF in raw:
        head, _, body = raw.partition(CRLF + CRLF)
    elif b"\n\n" in raw:  # tolerate bare LF, as most servers do
        head, _, body = raw.partition(b"\n\n")
    else:
        head, body = raw, b""
    lines = head.decode("latin-1").splitlines()
    if not lines:
        raise WorkbookError(f"The {what} is empty: nothing came back.")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    return lines[0], headers, body


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(CRLF)
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def parse_response(raw: bytes) -> RawResponse:
    """Parse the bytes of a response message (status line, headers, body)."""
    if not raw:
        raise WorkbookError("The server closed the connection without a response: "
                            "it probably could not parse the request (check the request line and the CRLFs).")
    start, headers, body = _split_head(raw, "response")
    m = re.match(r"^(HTTP/\d(?:\.\d)?) (\d{3})(?: (.*))?$", start)
    if not m:
        raise WorkbookError(f"The reply does not start with an HTTP status line (it starts {start[:40]!r}): "
                            f"is this port an HTTP server?")
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        body = _dechunk(body)
    return RawResponse(raw=raw, version=m.group(1), status=int(m.group(2)), reason=m.group(3) or "",
                       headers=headers, body=body)


@dataclass
class RawRequest:
    """A request message split into its parts."""

    raw: bytes
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default


def parse_request(raw: bytes | str) -> RawRequest:
    """Parse the bytes of a request message (request line, headers, body)."""
    raw = raw.encode() if isinstance(raw, str) else raw
    start, headers, body = _split_head(raw, "request")
    parts = start.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise WorkbookError(f"The request line {start!r} must have three parts separated by single spaces: "
                            f"METHOD TARGET HTTP/1.1.")
    return RawRequest(raw=raw, method=parts[0], target=parts[1], version=parts[2], headers=headers, body=body)


_PART_COLOURS = {"start": "#1f4e9c", "name": "#2a7a2a", "value": "#333", "crlf": "#b0b0b0",
                 "blank": "#d62728", "body": "#7a3e9d"}


def _mark(text: str, colour: str, bold: bool = False) -> str:
    weight = "font-weight:bold;" if bold else ""
    return f'<span style="color:{colour};{weight}">{html.escape(text)}</span>'


def _badge(text: str, colour: str) -> str:
    return (f'<span style="font-size:70%;color:{colour};border:1px solid {colour};border-radius:3px;'
            f'padding:0 3px;margin-left:4px;font-family:sans-serif">{html.escape(text)}</span>')


def render_message(message: bytes | str, *, title: str = "", max_body: int = 2000) -> str:
    """HTML showing a raw HTTP message with its parts highlighted.

    The start line (request line or status line), each header field (name
    and value), every CRLF, the empty line that ends the
    header section, and the body, each in its own colour and labelled.
    """
    raw = message.encode("utf-8") if isinstance(message, str) else bytes(message or b"")
    if not raw:
        raise WorkbookError("There is no message to show: pass the bytes of a request or a response.")
    sep = CRLF + CRLF if CRLF + CRLF in raw else (b"\n\n" if b"\n\n" in raw else None)
    head, body = (raw.split(sep, 1) if sep else (raw, b""))
    lines = re.split(rb"(\r\n|\n)", head)
    # The last line of the head ends with the first half of the separator.
    texts, ends = lines[0::2], lines[1::2] + [sep[: len(sep) // 2] if sep else b""]

    def crlf(end: bytes) -> str:
        # A drawn badge, not the U+240D/U+240A symbols, which many fonts lack.
        if end == CRLF:
            return _badge("CR LF", _PART_COLOURS["crlf"])
        if end == b"\n":
            return _badge("LF only: HTTP wants CR LF", "#d62728")
        return ""
    rows = []
    first = texts[0].decode("latin-1")
    is_response = first.startswith("HTTP/")
    rows.append(("status line" if is_response else "request line",
                 _mark(first, _PART_COLOURS["start"], True) + crlf(ends[0])))
    for text, end in zip(texts[1:], ends[1:]):
        name, colon, value = text.decode("latin-1").partition(":")
        shown = (_mark(name, _PART_COLOURS["name"], True) + _mark(colon + value, _PART_COLOURS["value"])
                 if colon else _mark(name + "  ← not a header field (no colon)", "#d62728"))
        rows.append(("header", shown + crlf(end)))
    if sep:
        rows.append(("empty line", _badge("CR LF" if sep == CRLF + CRLF else "LF", _PART_COLOURS["blank"])
                     + _mark("  end of the header section", _PART_COLOURS["crlf"])))
    else:
        rows.append(("empty line", _mark("(missing: a server waits for it before it answers)", "#d62728", True)))
    if body:
        text = body[:max_body].decode("utf-8", errors="replace")
        more = f"\n… ({len(body) - max_body} more bytes)" if len(body) > max_body else ""
        rows.append((f"body ({len(body)} bytes)", _mark(text + more, _PART_COLOURS["body"])))
    else:
        rows.append(("body", _mark("(none)", _PART_COLOURS["crlf"])))
    cells = "".join(
        f'<tr><td style="text-align:right;vertical-align:top;color:#777;font-size:80%;padding-right:8px;'
        f'white-space:nowrap">{label}</td><td style="text-align:left;font-family:monospace;white-space:pre-wrap;'
        f'word-break:break-all">{content}</td></tr>' for label, content in rows)
    caption = f'<div style="font-weight:bold;margin-bottom:2px">{html.escape(title)}</div>' if title else ""
    return (f'<div style="border:1px solid #ccc;border-radius:4px;padding:4px 6px;margin:2px 0">{caption}'
            f'<table style="border-collapse:collapse">{cells}</table></div>')


def show_message(message: bytes | str, *, title: str = "") -> None:
    """Display :func:`render_message` in the notebook."""
    from IPython.display import HTML, display
    display(HTML(render_message(message, title=title)))


# --------------------------------------------------------------------------- demo app
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


# --------------------------------------------------------------------------- exercise
def line_end_problem(raw: bytes) -> str | None:
    """What is wrong with the line ends of a request's head, in words (None when they are right).

    HTTP/1.1 ends the request line and every header line with CRLF
    (``\\r\\n``) and the head with an empty line (so ``\\r\\n\\r\\n``).
    """
    head, sep, _ = raw.partition(CRLF + CRLF)
    if sep and b"\n" not in head.replace(CRLF, b"") and b"\r" not in head.replace(CRLF, b""):
        return None
    if b"\n" not in raw and b"\r" not in raw:
        return "it has no line ends at all: it is one single line"
    if not sep and CRLF not in raw and b"\n" in raw:
        return "its lines end with LF (\\n) alone, never with CRLF"
    if sep:
        if b"\n" in head.replace(CRLF, b""):
            return "some lines of the head end with LF (\\n) alone"
        return "a CR (\\r) stands alone in the head, without its LF"
    if re.search(rb"(?<!\r)\n", raw):
        return "some lines end with LF (\\n) alone, and no empty line (CRLF CRLF) ends the headers"
    return "no empty line (CRLF CRLF) ends the headers"


def check_raw_request(make_request, url: str) -> Verdict:
    """Checker for notebook 02: ``make_request(host, port, name)`` returns request bytes.

    The request must create an item called ``name`` with ``POST /items`` on
    the demo app at ``url``.  The check sends the bytes exactly as they are
    and returns a :class:`~helpers.core.verdict.Verdict`, case by case (it never
    raises for a wrong answer).
    """
    p = parse_url(url)
    v = Verdict("Exercise: a POST request written by hand")
    if not callable(make_request):
        return v.not_attempted(f"make_request is {make_request!r}, not a function.",
                               hint="Define make_request(host, port, name) in the cell above and run it.")
    try:
        raw = make_request(p.host, p.port, "buy milk")
    except Exception as exc:  # the student's code failed: say so, do not crash
        v.fail(f"make_request(host, port, 'buy milk') raised {type(exc).__name__}: {exc}",
               hint="Run make_request yourself with these arguments and read the traceback.")
        return v
    if raw is None:
        return v.not_attempted("make_request returned None: there is no request to send yet.",
                               hint="Build the request's bytes and return them (is a return statement missing?).")
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, (bytes, bytearray)) or not raw:
        v.fail(f"make_request should return the request as bytes (or a str); yours returned {raw!r:.60}.",
               hint="Return head.encode('ascii') + body, as bytes.")
        return v
    v.ok("make_request returns the request as bytes")
    raw = bytes(raw)
    problem = line_end_problem(raw)
    head, _, body = raw.partition(CRLF + CRLF)
    lenient = raw
    if problem:
        # Judge the other parts even when the line ends are wrong, reading bare LF as a line end.
        end = re.search(rb"\r?\n\r?\n", raw)
        head, body = (raw[:end.start()], raw[end.end():]) if end else (raw, b"")
        head = re.sub(rb"\r?\n", CRLF, head)
        lenient = head + CRLF + CRLF + body
    first = head.split(CRLF)[0].decode("latin-1", "replace")
    v.add(first == "POST /items HTTP/1.1", f"request line is 'POST /items HTTP/1.1' (yours: {first[:60]!r})",
          hint="The request line is METHOD, target and version separated by single spaces: POST /items HTTP/1.1.")
    v.add(problem is None, "every line ends with CRLF (\\r\\n) and an empty line ends the headers"
          + (f" (yours: {problem})" if problem else ""),
          hint="End the request line and each header line with \\r\\n, and put one more \\r\\n "
               "(the empty line) between the headers and the body.")
    try:
        req = parse_request(lenient)
    except WorkbookError as exc:
        v.fail(str(exc), hint="Write the request line first, then one 'Name: value' header per line.")
        req = None
    if req is not None:
        host = req.header("Host")
        v.add(host in (f"{p.host}:{p.port}", p.host), f"a Host header names {p.host}:{p.port} (yours: {host!r})",
              hint=f"Add the line Host: {{host}}:{{port}} (HTTP/1.1 requires it).")
        ctype = req.header("Content-Type")
        v.add((ctype or "").split(";")[0].strip().lower() == "application/json",
              f"Content-Type is application/json (yours: {ctype!r})",
              hint="Add the line Content-Type: application/json.")
        cl = req.header("Content-Length")
        v.add(cl is not None and cl.strip().isdigit() and int(cl) == len(body),
              f"Content-Length equals the body's length in bytes, {len(body)} (yours: {cl!r})",
              hint="Content-Length is the number of bytes of the encoded body: len(body) after .encode().")
        try:
            data = json.loads(body)
            v.add(isinstance(data, dict) and data.get("name") == "buy milk",
                  f'the body is the JSON {{"name": "buy milk"}} (yours: {body[:60]!r})',
                  hint="Make the body json.dumps({'name': name}), encoded in UTF-8.")
        except ValueError:
            v.fail(f"the body is valid JSON (yours: {body[:60]!r})", hint="Make the body json.dumps({'name': name}).")
    try:
        response = send_raw(raw, p.host, p.port, timeout=3)
        v.add(response.status == 201, f"the server answers 201 Created (it answered {response.status} {response.reason})")
        v.add((response.header("Location") or "").startswith("/items/"),
              "the response has a Location header for the new item")
    except WorkbookError as exc:
        v.fail(f"sending it: {exc}")
    return v
