"""helpers.services.rawhttp, messages, urls and demo_server against a real local server."""

import pytest

from helpers.services import demo_server, messages, rawhttp, urls
from helpers.core import servers
from helpers.core.errors import WorkbookError


@pytest.fixture(scope="module")
def demo():
    server = servers.serve(demo_server.create_demo_app(), name="test-rawhttp-demo")
    yield server
    server.stop()


def send(server, method, path, headers=None, body=None):
    return rawhttp.send_raw(messages.build_request(method, server.url + path, headers, body), server.host, server.port)


@pytest.mark.parametrize("method,path,headers,body,status", [
    ("GET", "/ok", None, None, 200),
    ("POST", "/items", {"Content-Type": "application/json"}, '{"name": "x"}', 201),
    ("DELETE", "/items/1", None, None, 204),
    ("GET", "/old-page", None, None, 301),
    ("GET", "/elsewhere", None, None, 302),
    ("GET", "/temporary", None, None, 307),
    ("GET", "/add?a=1&b=zz", None, None, 400),
    ("GET", "/private", None, None, 401),
    ("GET", "/missing", None, None, 404),
    ("DELETE", "/ok", None, None, 405),
    ("POST", "/items", {"Content-Type": "text/plain"}, "x", 415),
    ("GET", "/crash", None, None, 500),
    ("PATCH", "/items/1", None, None, 501),
    ("GET", "/maintenance", None, None, 503),
])
def test_demo_app_answers_each_status(demo, method, path, headers, body, status):
    assert send(demo, method, path, headers, body).status == status


def test_basic_auth_and_sum(demo):
    r = send(demo, "GET", "/private", {"Authorization": "Basic c3R1ZGVudDpzZWNyZXQ="})
    assert r.status == 200 and r.json()["message"] == "welcome, student"
    assert send(demo, "GET", "/admin").status == 401
    assert send(demo, "GET", "/admin", {"Authorization": "Basic c3R1ZGVudDpzZWNyZXQ="}).status == 403
    assert send(demo, "GET", "/add?a=1&b=2").json()["sum"] == 3


def test_conditional_request_gets_304(demo):
    first = send(demo, "GET", "/news")
    assert first.status == 200 and first.header("ETag") and first.header("Last-Modified")
    assert "max-age=60" in first.header("Cache-Control")
    again = send(demo, "GET", "/news", {"If-None-Match": first.header("ETag")})
    assert again.status == 304 and again.body == b""
    since = send(demo, "GET", "/news", {"If-Modified-Since": first.header("Last-Modified")})
    assert since.status == 304
    assert [k.lower() for k, _ in again.headers].count("date") == 1  # no duplicate Date on the 304


def test_put_creates_then_replaces(demo):
    body = '{"id": "1234", "titulo": "Tarea 1"}'
    first = send(demo, "PUT", "/tareas/1234", {"Content-Type": "application/json"}, body)
    assert first.status == 201 and first.header("Location") == "/tareas/1234"
    again = send(demo, "PUT", "/tareas/1234", {"Content-Type": "application/json"}, body)
    assert again.status == 200 and again.json()["content_length"] == len(body)
    assert send(demo, "PUT", "/tareas/1234", {"Content-Type": "application/json"}, "[1]").status == 400


def test_status_table_lists_every_case(demo):
    table = demo_server.status_table(demo.url, [("GET", "/ok", None, None, "fine"),
                                            ("GET", "/maintenance", None, None, "later")])
    assert table.count("<tr>") == 3 and "<b>503</b>" in table and "Retry-After: 120" in table


def test_hand_written_request_and_parts(demo):
    raw = f"GET /ok HTTP/1.1\r\nHost: {demo.host}:{demo.port}\r\nConnection: close\r\n\r\n"
    r = rawhttp.send_raw(raw, demo.host, demo.port)
    assert r.version == "HTTP/1.1" and r.status == 200 and b"Hello World" in r.body
    assert r.header("content-length") == str(len(r.body))
    assert r.raw.startswith(b"HTTP/1.1 200")
    html = messages.render_message(r.raw)
    assert "status line" in html and "empty line" in html and "CR LF" in html
    req = messages.parse_request(raw)
    assert (req.method, req.target, req.version) == ("GET", "/ok", "HTTP/1.1")
    assert rawhttp.send_raw(raw.replace("\r\n", "\n"), demo.host, demo.port, fix_newlines=True).status == 200


def test_build_request_adds_host_length_and_no_fragment():
    raw = messages.build_request("put", "http://example.com/tareas/1234?x=1#frag", {"Content-Type": "application/json"}, '{"id": "1234"}')
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"PUT /tareas/1234?x=1 HTTP/1.1\r\nHost: example.com\r\n")
    assert b"Content-Length: 14" in head and body == b'{"id": "1234"}'


def test_parse_url_parts():
    p = urls.parse_url("http://example.com/data/api/user/username?kind=alumno")
    assert (p.scheme, p.host, p.port, p.path, p.query, p.fragment) == ("http", "example.com", 80, "/data/api/user/username", "kind=alumno", "")
    q = urls.parse_url("https://u:pw@[::1]:8443/a?x=1&x=2#f")
    assert q.host == "::1" and q.port == 8443 and q.params == [("x", "1"), ("x", "2")] and q.fragment == "f"
    assert q.authority == "[::1]:8443" and q.userinfo == "u:pw"
    assert "fragment" in urls.render_url("http://h:1/p?q=1#frag")


@pytest.mark.parametrize("url", ["", "example.com/x", "http://", "http://h:99999/", "ftp://h/", "http://a b/", None])
def test_bad_urls_are_one_sentence(url):
    with pytest.raises(WorkbookError) as err:
        urls.parse_url(url)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)


def test_unreachable_unknown_and_silent_hosts(demo):
    with pytest.raises(WorkbookError, match="Nothing accepts connections"):
        rawhttp.send_raw("GET / HTTP/1.1\r\n\r\n", "127.0.0.1", servers.free_port())
    with pytest.raises(WorkbookError, match="cannot be resolved"):
        rawhttp.send_raw("GET / HTTP/1.1\r\n\r\n", "no-such-host.invalid", 80)
    with pytest.raises(WorkbookError, match="no complete response"):  # no empty line: the server waits
        rawhttp.send_raw(f"GET /ok HTTP/1.1\r\nHost: x\r\n", demo.host, demo.port, timeout=1)
    with pytest.raises(WorkbookError, match="empty"):
        rawhttp.send_raw("", demo.host, demo.port)


def test_not_http_and_bad_method_and_headers():
    with pytest.raises(WorkbookError, match="status line"):
        messages.parse_response(b"SSH-2.0-OpenSSH\r\n")
    with pytest.raises(WorkbookError, match="not an HTTP method"):
        messages.build_request("FETCH", "http://127.0.0.1/")
    with pytest.raises(WorkbookError, match="header name"):
        messages.build_request("GET", "http://127.0.0.1/", {"Bad Name": "x"})
    with pytest.raises(WorkbookError, match="line break"):
        messages.build_request("GET", "http://127.0.0.1/", {"X": "a\r\nEvil: 1"})
    with pytest.raises(WorkbookError, match="not JSON"):
        messages.RawResponse(b"", "HTTP/1.1", 200, "OK", [], b"<html>").json()


def test_chunked_response_is_decoded():
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n6\r\n World\r\n0\r\n\r\n"
    assert messages.parse_response(raw).body == b"Hello World"


def test_checker_passes_a_right_answer_and_fails_a_wrong_one(demo):
    def right(host, port, name):
        body = ('{"name": "%s"}' % name).encode()
        return (f"POST /items HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body

    def wrong(host, port, name):
        return f"POST /items HTTP/1.1\nHost: {host}\nContent-Type: application/json\nContent-Length: 3\n\n{{}}"

    assert rawhttp.check_raw_request(right, demo.url)
    assert not rawhttp.check_raw_request(wrong, demo.url)
    verdict = rawhttp.check_raw_request(lambda *a: 1 / 0, demo.url)
    assert not verdict and "raised ZeroDivisionError" in str(verdict)


def test_checker_explains_bare_lf_and_a_missing_return(demo):
    def lf_only(host, port, name):
        body = '{\n  "name": "%s"\n}' % name  # a body with line breaks of its own must stay intact
        return (f"POST /items HTTP/1.1\nHost: {host}:{port}\nContent-Type: application/json\n"
                f"Content-Length: {len(body)}\nConnection: close\n\n{body}").encode()
    verdict = rawhttp.check_raw_request(lf_only, demo.url)
    out = str(verdict)
    assert not verdict and "✘ every line ends with CRLF" in out and "end with LF (\\n) alone" in out
    assert "✔ Content-Length" in out and "✔ the body is the JSON" in out
    verdict = rawhttp.check_raw_request(lambda h, p, n: None, demo.url)
    assert not verdict and not verdict.attempted and "is a return statement missing?" in str(verdict)


def test_checker_says_what_is_wrong_with_a_message_without_line_ends(demo):
    verdict = rawhttp.check_raw_request(lambda h, p, n: b"x", demo.url)
    out = str(verdict)
    assert not verdict and "(yours: it has no line ends at all: it is one single line)" in out
    assert "alone" not in out      # it was told its lines end with LF alone: it has no lines


@pytest.mark.parametrize("raw,said", [
    (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", None),
    (b"x", "no line ends at all"),
    (b"GET / HTTP/1.1\nHost: h\n\n", "LF (\\n) alone, never with CRLF"),
    (b"GET / HTTP/1.1\r\nHost: h\n\r\n\r\n", "some lines of the head end with LF"),
    (b"GET / HTTP/1.1\r\nHost: h\r\n", "no empty line (CRLF CRLF) ends the headers"),
])
def test_line_end_problem_names_the_real_mistake(raw, said):
    problem = rawhttp.line_end_problem(raw)
    assert problem == said if said is None else said in problem


def test_url_anatomy_lists_query_parameters_under_the_query():
    page = urls.render_url("http://h:1/p?kind=alumno&tag=a#frag")
    rows = page.split("<tr>")
    labels = [r.split("</td>")[0] for r in rows[1:]]
    query = next(i for i, l in enumerate(labels) if "<b>query</b>" in l)
    assert "kind =" in labels[query + 1] and "tag =" in labels[query + 2] and "<b>fragment</b>" in labels[query + 3]
    assert "&nbsp;" not in "".join(labels) and all("padding" in l for l in labels)
