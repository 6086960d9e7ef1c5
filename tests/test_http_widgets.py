"""The HTTP widgets, driven from code against a real server."""

import pytest

from helpers.core import servers
from helpers.core.errors import WorkbookError
from helpers.services import widgets as hw
from helpers.services.tasks import create_app


@pytest.fixture(scope="module")
def tasks():
    server = servers.serve(create_app(), name="t-widgets-tasks")
    yield server
    server.stop()


def test_exchange_shows_wire_bytes(tasks):
    ex = hw.exchange("post", tasks.url + "/api/v1/tasks", "Accept: application/json", '{"title": "from test"}')
    assert ex.status == 201 and ex.response.header("Location").startswith("/api/v1/tasks/")
    assert ex.request_raw.startswith(b"POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Content-Type: application/json\r\n" in ex.request_raw and ex.request_raw.endswith(b'{"title": "from test"}')
    assert ex.elapsed_ms > 0 and "201" in hw.render_exchange(ex)


def test_request_builder_send_and_static_output(tasks):
    b = hw.RequestBuilder(tasks.url + "/api/v1/tasks?limit=1", headers={"Accept": "application/json"})
    ex = b.send()
    assert ex.status == 200 and b.history == [ex] and b.last_error is None
    bundle = b._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "200 OK" in bundle["text/html"]
    b.set(method="DELETE", url=tasks.url + "/api/v1/tasks/999999")
    assert b.send().status == 404


@pytest.mark.parametrize("kw,match", [
    ({"url": "localhost:5000/x"}, "http://"),
    ({"url": "http://127.0.0.1:{free}/"}, "Nothing accepts"),
    ({"method": "FETCH"}, "not an HTTP method"),
    ({"body": '{"title": ', "headers": "Content-Type: application/json"}, "not valid JSON"),
    ({"headers": "no colon here"}, "Name: value"),
])
def test_request_builder_bad_input_is_one_sentence(tasks, kw, match):
    b = hw.RequestBuilder(tasks.url + "/api/v1/tasks")
    kw = {k: v.replace("{free}", str(servers.free_port())) for k, v in kw.items()}
    b.set(**kw)
    assert b.send() is None
    assert match in b.last_error and "⚠" in b.result_w.value
    with pytest.raises(WorkbookError, match=match.replace("(", r"\(")):
        hw.exchange(kw.get("method", "GET"), kw.get("url", tasks.url + "/"), kw.get("headers"), kw.get("body"))


def test_raw_message_widget(tasks):
    wdg = hw.RawMessageWidget(tasks.url + "/health")
    r = wdg.send()
    assert r.status == 200 and "status line" in wdg.response_w.value
    assert "request line" in wdg._repr_mimebundle_()["text/html"]
    wdg.text_w.value = "GET /health HTTP/1.1\nHost: x\n"  # no empty line: the server keeps waiting
    wdg.timeout = 1
    assert wdg.send() is None and "no complete response" in wdg.response_w.value
    wdg.server_w.value = "nohost"
    assert wdg.send() is None and "host:port" in wdg.response_w.value
    wdg.server_w.value = f"127.0.0.1:{servers.free_port()}"
    assert wdg.send() is None and "Nothing accepts" in wdg.response_w.value


def test_unknown_method_in_constructor_is_refused(tasks):
    b = hw.RequestBuilder(tasks.url + "/health", method="FETCH")
    assert b.send() is None and "not an HTTP method" in b.last_error


def test_url_anatomy_widget():
    u = hw.UrlAnatomyWidget("http://ejemplo.com/data/api/user/username?kind=alumno")
    assert u.parts.port == 80 and "kind" in u.anatomy_w.value
    u.url = "https://h:8443/p?a=1#frag"
    assert u.parts.fragment == "frag" and "never sent" in u._repr_mimebundle_()["text/html"]
    u.url = "ejemplo.com"
    assert u.parts is None and "⚠" in u.anatomy_w.value
    with pytest.raises(WorkbookError):
        hw.RawMessageWidget("not a url")


def test_url_anatomy_widget_lines_up_each_query_parameter_with_the_other_rows():
    u = hw.UrlAnatomyWidget("http://ejemplo.com:8080/data/api/user/username?kind=alumno#top")
    rows = u.anatomy_w.value.split("<tr>")[1:]
    label_cells = [r.split("</td>")[0] for r in rows]
    value_cells = [r.split("</td>")[1] for r in rows]
    param = next(i for i, cell in enumerate(label_cells) if "kind =" in cell)
    assert "<b>query</b>" in label_cells[param - 1]               # right under the query it belongs to
    assert "alumno" in value_cells[param] and "kind" not in value_cells[param]
    assert len({cell.split(">")[0].split("padding-left")[0] for cell in value_cells}) == 1  # one value column style
    assert "&nbsp;" not in u.anatomy_w.value.split("<table")[1]  # indented by padding, not by spaces
