"""HTTP without a library: a request's bytes sent over a plain TCP socket, and notebook 02's exercise.

* :func:`send_raw` sends bytes (written by you or by :func:`helpers.services.messages.build_request`)
  over a new TCP connection (TLS if asked) and parses what comes back
  (:class:`~helpers.services.messages.RawResponse`).
* :func:`check_raw_request` is the checker of notebook 02's exercise (it returns a
  :class:`~helpers.core.verdict.Verdict`); :func:`line_end_problem` says what is wrong with
  a head's line ends.

A host that does not answer, or a reply that is not HTTP, raises
:class:`~helpers.core.errors.WorkbookError` with one sentence (a socket's errors are not
``requests``'s, which :func:`helpers.core.errors.explain` already speaks about).
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time

from helpers.core.errors import WorkbookError
from helpers.core.verdict import Verdict
from helpers.services.messages import CRLF, parse_request, parse_response, RawResponse
from helpers.services.urls import parse_url


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
