"""HTTP widgets: a raw-message viewer, a URL-anatomy viewer and a request builder.

* :class:`RawMessageWidget` – type a raw request (or load one), send it over
  a TCP socket, see request and response with their parts highlighted.
* :class:`UrlAnatomyWidget` – type a URL, see its scheme, host, port, path,
  query (decoded) and fragment.
* :class:`RequestBuilder` – a small Postman: method, URL, headers, body;
  shows status, headers, body, elapsed time and the raw request exactly as
  it went on the wire (it is sent by :mod:`helpers.services.rawhttp` over a socket,
  so the bytes shown are the bytes sent).

Each widget can be driven from code (``.send()``, ``.url = ...``) and shows a
static HTML copy of its current state when a notebook is run headless or
viewed without a live kernel, so the output is never an empty box.
Bad input (bad URL, unreachable host, invalid JSON, unknown method) is shown
in the widget as one sentence; :func:`exchange` raises it as a
:class:`~helpers.core.errors.WorkbookError`.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass

import ipywidgets as w

from helpers.services import messages, rawhttp, urls
from helpers.core.errors import WorkbookError
from helpers.core.widgets import StaticFallback

_MONO = {"font_family": "monospace"}


def _error_html(text: str) -> str:
    return f'<div style="color:#b00020;font-weight:bold">⚠ {html.escape(text)}</div>'


# --------------------------------------------------------------------------- exchange
@dataclass
class Exchange:
    """A request as sent and the response as received."""

    request_raw: bytes
    response: messages.RawResponse
    elapsed_ms: float

    @property
    def status(self) -> int:
        return self.response.status


def parse_headers(text: str | dict | None) -> list[tuple[str, str]]:
    """``"Name: value"`` lines (or a dict) as a list of pairs; a bad line is one sentence."""
    if not text:
        return []
    if isinstance(text, dict):
        return [(str(k), str(v)) for k, v in text.items()]
    pairs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise WorkbookError(f"Header line {n} ({line!r}) is not of the form 'Name: value'.")
        pairs.append((name.strip(), value.strip()))
    return pairs


def exchange(method: str, url: str, headers: str | dict | None = None, body: str | bytes | None = None,
             *, timeout: float = 5.0) -> Exchange:
    """Build a request, send it over a socket, and return the :class:`Exchange`.

    A body sent with a JSON ``Content-Type`` must be valid JSON; a JSON-looking
    body without a ``Content-Type`` gets ``application/json``.
    """
    method = messages.check_method(method)
    parts = urls.parse_url(url)
    pairs = parse_headers(headers)
    data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    ctype = next((v for k, v in pairs if k.lower() == "content-type"), None)
    if data.strip() and (ctype is None or "json" in ctype.lower()):
        try:
            json.loads(data)
        except ValueError as exc:
            if ctype is not None:
                raise WorkbookError(f"The body is not valid JSON ({exc}): fix it, or change the Content-Type.") from None
        else:
            if ctype is None:
                pairs.append(("Content-Type", "application/json"))
    if not any(k.lower() == "user-agent" for k, _ in pairs):
        pairs.insert(0, ("User-Agent", "workbook-request-builder/1.0"))
    raw = messages.build_request(method, url, pairs, data)
    started = time.perf_counter()
    response = rawhttp.send_raw(raw, parts.host, parts.port, timeout=timeout, tls=parts.scheme == "https")
    return Exchange(raw, response, (time.perf_counter() - started) * 1000)


def _status_colour(status: int) -> str:
    return {2: "#2a7a2a", 3: "#1f4e9c", 4: "#c25700", 5: "#b00020"}.get(status // 100, "#555")


def render_exchange(ex: Exchange) -> str:
    """HTML summary of an exchange: status, time, headers, body, and both raw messages."""
    r = ex.response
    body = r.text
    if "json" in (r.header("Content-Type") or "") and body.strip():
        try:
            body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    headers = "".join(f"<tr><td style='text-align:left'><b>{html.escape(k)}</b></td>"
                      f"<td style='text-align:left;font-family:monospace'>{html.escape(v)}</td></tr>"
                      for k, v in r.headers)
    status = (f"<span style='font-size:120%;font-weight:bold;color:{_status_colour(r.status)}'>"
              f"{r.status} {html.escape(r.reason)}</span> &nbsp; {ex.elapsed_ms:.1f} ms &nbsp; "
              f"{len(r.body)} body bytes")
    body_html = (f"<pre style='max-height:220px;overflow:auto;background:#f7f7f7;padding:4px;margin:2px 0'>"
                 f"{html.escape(body[:5000])}</pre>" if body else "<i>(no body)</i>")
    return (f"<div>{status}<details open><summary><b>Response headers</b></summary><table>{headers}</table></details>"
            f"<div><b>Response body</b></div>{body_html}"
            f"<details open><summary><b>Raw request, as sent on the wire</b></summary>"
            f"{messages.render_message(ex.request_raw)}</details>"
            f"<details><summary><b>Raw response, as received</b></summary>{messages.render_message(r.raw)}</details></div>")


# --------------------------------------------------------------------------- request builder
class RequestBuilder(StaticFallback, w.VBox):
    """A small Postman: method, URL, headers, body → status, headers, body, time, raw request."""

    def __init__(self, url: str = "http://127.0.0.1:5000/", method: str = "GET", headers: str | dict = "",
                 body: str = "", *, timeout: float = 5.0):
        self.method_w = w.Dropdown(options=list(messages.METHODS[:7]), value=method.upper() if method.upper()
                                   in messages.METHODS[:7] else "GET", layout=w.Layout(width="110px"))
        self.url_w = w.Text(value=url, placeholder="http://127.0.0.1:5000/path", layout=w.Layout(flex="1"))
        self.send_w = w.Button(description="Send", button_style="primary", icon="paper-plane",
                               layout=w.Layout(width="100px"))
        if isinstance(headers, dict):
            headers = "\n".join(f"{k}: {v}" for k, v in headers.items())
        self.headers_w = w.Textarea(value=headers, placeholder="Accept: application/json",
                                    description="Headers", layout=w.Layout(width="100%", height="70px"))
        self.body_w = w.Textarea(value=body, placeholder='{"title": "a task"}', description="Body",
                                 layout=w.Layout(width="100%", height="70px"))
        self.result_w = w.HTML("<i>Press Send.</i>")
        self.timeout = timeout
        self.history: list[Exchange] = []
        self.last_error: str | None = None
        self._method_override: str | None = None
        self.send_w.on_click(lambda _: self.send())
        super().__init__([w.HBox([self.method_w, self.url_w, self.send_w]), self.headers_w, self.body_w,
                          self.result_w], layout=w.Layout(border="1px solid #ccc", padding="6px"))
        self.set(method=method)  # an unknown method is kept, and refused with a sentence when sent

    def set(self, *, method: str | None = None, url: str | None = None, headers: str | dict | None = None,
            body: str | None = None) -> "RequestBuilder":
        """Fill the form from code (then call :meth:`send`)."""
        if method is not None:
            m = method.strip().upper()
            if m in self.method_w.options:
                self.method_w.value, self._method_override = m, None
            else:
                self._method_override = method  # validated (and refused) when sent
        if url is not None:
            self.url_w.value = url
        if headers is not None:
            self.headers_w.value = "\n".join(f"{k}: {v}" for k, v in headers.items()) if isinstance(headers, dict) else headers
        if body is not None:
            self.body_w.value = body
        return self

    def send(self) -> Exchange | None:
        """Send the request in the form; show and return the exchange (None after an error)."""
        self.result_w.value = "<i>Sending…</i>"
        try:
            ex = exchange(self._method_override or self.method_w.value, self.url_w.value, self.headers_w.value,
                          self.body_w.value, timeout=self.timeout)
        except WorkbookError as exc:
            self.last_error = str(exc)
            self.result_w.value = _error_html(str(exc))
            return None
        self.last_error = None
        self.history.append(ex)
        self.result_w.value = render_exchange(ex)
        return ex

    def _static_html(self) -> str:
        form = (f"<div style='font-family:monospace;border:1px solid #ccc;padding:4px'>"
                f"<b>{html.escape(self._method_override or self.method_w.value)}</b> {html.escape(self.url_w.value)}"
                + (f"<br><span style='color:#2a7a2a'>{html.escape(self.headers_w.value)}</span>".replace("\n", "<br>")
                   if self.headers_w.value else "")
                + (f"<br><span style='color:#7a3e9d'>{html.escape(self.body_w.value)}</span>" if self.body_w.value else "")
                + "</div>")
        return f"<div><b>Request builder</b>{form}{self.result_w.value}</div>"


# --------------------------------------------------------------------------- raw message
class RawMessageWidget(StaticFallback, w.VBox):
    """Edit a raw HTTP request, send it over a socket, and see both messages dissected."""

    def __init__(self, url: str = "http://127.0.0.1:5000/", message: str | None = None, *, timeout: float = 5.0):
        parts = urls.parse_url(url)
        if message is None:
            message = f"GET {parts.target} HTTP/1.1\nHost: {parts.authority}\nAccept: */*\nConnection: close\n\n"
        self.server_w = w.Text(value=f"{parts.host}:{parts.port}", description="Server", layout=w.Layout(width="260px"))
        self.text_w = w.Textarea(value=message, layout=w.Layout(width="100%", height="130px"))
        self.send_w = w.Button(description="Send over TCP", button_style="primary", icon="plug")
        self.note_w = w.HTML("<small>Each line break is sent as CRLF (\\r\\n); the message must end with an "
                             "empty line.</small>")
        self.request_w = w.HTML(messages.render_message(message.replace("\n", "\r\n"), title="Request"))
        self.response_w = w.HTML("<i>Press “Send over TCP”.</i>")
        self.timeout = timeout
        self.response: messages.RawResponse | None = None
        self.text_w.observe(lambda _: self._preview(), names="value")
        self.send_w.on_click(lambda _: self.send())
        super().__init__([w.HBox([self.server_w, self.send_w]), self.text_w, self.note_w,
                          w.HBox([self.request_w, self.response_w])],
                         layout=w.Layout(border="1px solid #ccc", padding="6px"))
        self.request_w.layout.width = "50%"
        self.response_w.layout.width = "50%"

    def _preview(self):
        try:
            self.request_w.value = messages.render_message(self._bytes(), title="Request")
        except WorkbookError as exc:
            self.request_w.value = _error_html(str(exc))

    def _bytes(self) -> bytes:
        text = self.text_w.value.replace("\r\n", "\n")
        return text.replace("\n", "\r\n").encode("utf-8")

    def send(self) -> messages.RawResponse | None:
        """Send the text as it is (with CRLF line ends) and show the response."""
        self._preview()
        host, _, port = self.server_w.value.strip().rpartition(":")
        try:
            if not host or not port.isdigit():
                raise WorkbookError(f"Write the server as host:port, e.g. 127.0.0.1:5000 (got {self.server_w.value!r}).")
            self.response = rawhttp.send_raw(self._bytes(), host, int(port), timeout=self.timeout)
            self.response_w.value = messages.render_message(
                self.response.raw, title=f"Response ({self.response.elapsed_ms:.1f} ms)")
        except WorkbookError as exc:
            self.response, self.response_w.value = None, _error_html(str(exc))
        return self.response

    def _static_html(self) -> str:
        return (f"<div><b>Raw message to {html.escape(self.server_w.value)}</b>"
                f"<table style='width:100%'><tr><td style='vertical-align:top;width:50%'>{self.request_w.value}</td>"
                f"<td style='vertical-align:top'>{self.response_w.value}</td></tr></table></div>")


# --------------------------------------------------------------------------- URL anatomy
class UrlAnatomyWidget(StaticFallback, w.VBox):
    """Type a URL and see its parts: scheme, host, port, path, query, fragment."""

    def __init__(self, url: str = "http://example.com:8080/data/api/user/username?kind=alumno#top"):
        self.url_w = w.Text(value=url, description="URL", layout=w.Layout(width="100%"))
        self.anatomy_w = w.HTML()
        self.url_w.observe(lambda _: self._update(), names="value")
        super().__init__([self.url_w, self.anatomy_w], layout=w.Layout(border="1px solid #ccc", padding="6px"))
        self._update()

    @property
    def url(self) -> str:
        return self.url_w.value

    @url.setter
    def url(self, value: str) -> None:
        self.url_w.value = value

    @property
    def parts(self) -> urls.UrlParts | None:
        try:
            return urls.parse_url(self.url_w.value)
        except WorkbookError:
            return None

    def _update(self):
        try:
            self.anatomy_w.value = urls.render_url(self.url_w.value)
        except WorkbookError as exc:
            self.anatomy_w.value = _error_html(str(exc))

    def _static_html(self) -> str:
        return f"<div><b>URL</b> <code>{html.escape(self.url_w.value)}</code>{self.anatomy_w.value}</div>"
