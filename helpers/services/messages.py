"""HTTP messages as bytes (§2.5.2): write them, parse them, show them.

* :func:`build_request` writes the bytes of a request message; :func:`parse_request` and
  :func:`parse_response` split a message into start line, header fields and body
  (:class:`RawRequest`, :class:`RawResponse`).
* :func:`render_message` draws a request or response with its parts highlighted: start line,
  header fields, the empty CRLF line, the body; :func:`show_message` displays it.

Sending them over a socket is :mod:`helpers.services.rawhttp`.  Everything a student can get
wrong (a bad header, a reply that is not HTTP) raises :class:`~helpers.core.errors.WorkbookError`
with one sentence.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from helpers.core.errors import WorkbookError
from helpers.services.urls import parse_url

CRLF = b"\r\n"
#: The methods HTTP/1.1 defines (RFC 9110) plus PATCH (RFC 5789).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


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

