"""URLs taken apart: :func:`parse_url` splits a URL into scheme, host, port, path, query and
fragment (:class:`UrlParts`); :func:`render_url` draws that anatomy as HTML (§2.5.1, notebooks 01-02)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from helpers.core.errors import WorkbookError

DEFAULT_PORTS = {"http": 80, "https": 443}


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

