"""helpers.services.shop, intermediaries and soa_checks: real instances (processes), a real balancer, failover, the checker."""

import pytest
import requests

from helpers.core import servers
from helpers.services import intermediaries, shop, soa_checks
from helpers.core.errors import WorkbookError


@pytest.fixture
def cleanup_servers():
    yield
    servers.stop_all()


def test_stateless_instances_behind_balancer_survive_a_failure(cleanup_servers):
    inst = shop.start_instances(2, prefix="t-shop")
    assert all(s.process is not None for s in inst)
    lb = intermediaries.LoadBalancer(inst, name="t-balancer").start()
    answers = [r["instance"] for r in intermediaries.consume(lb.url, 6)]
    assert answers == ["A", "B"] * 3  # round robin
    for item in ("milk", "bread"):
        assert requests.post(lb.url + "/carts/ana/items", json={"item": item}).status_code == 201
    assert requests.get(lb.url + "/carts/ana").json()["items"] == ["milk", "bread"]
    inst[0].stop()
    lb.note("stopped A")
    after = intermediaries.consume(lb.url, 4)
    assert all(r["status"] == 200 and r["instance"] == "B" for r in after)
    assert requests.get(lb.url + "/carts/ana").json()["items"] == ["milk", "bread"]
    assert any("A did not answer" in f.note for f in lb.log)
    inst[1].stop()
    assert intermediaries.consume(lb.url, 1)[0]["status"] == 503
    assert lb.spread()["-"] == 1
    fig = intermediaries.plot_spread(lb)
    assert fig.axes[0].get_title() == "requests per instance"
    assert "<table>" in lb.log_html()
    assert "A did not answer" in lb.log_html(with_notes=True)


def test_stateful_variant_loses_and_splits_state(cleanup_servers):
    inst = shop.start_instances(2, stateful=True, prefix="t-stateful")
    lb = intermediaries.LoadBalancer(inst, name="t-balancer2").start()
    carts = [requests.post(lb.url + "/carts/bo/items", json={"item": i}).json()["items"] for i in ("a", "b", "c")]
    assert carts == [["a"], ["b"], ["a", "c"]]  # each instance keeps its own cart


def test_active_balancer_compresses(cleanup_servers):
    inst = shop.start_instances(1, prefix="t-active")
    lb = intermediaries.LoadBalancer(inst, active=True, name="t-balancer3").start()
    r = requests.get(lb.url + "/contract")
    assert r.headers["Content-Encoding"] == "gzip" and r.headers["Via"] == "1.1 t-balancer3"
    assert r.json()["service"] == "shop"
    passive = intermediaries.LoadBalancer(inst, name="t-balancer4").start()
    assert "Content-Encoding" not in requests.get(passive.url + "/contract").headers


def test_discovery_and_composition(cleanup_servers):
    one = servers.serve(shop.create_service_app("A", store=shop.store_path("t-disc")), name="t-shop-thread")
    assert shop.discover([one.url, f"http://127.0.0.1:{servers.free_port()}"], "greet") == [one.url]
    assert shop.discover([one.url], "fly") == []
    comp = servers.serve(shop.create_composite_app(one.url), name="t-welcome")
    assert "Hello, zoe!" in requests.get(comp.url + "/welcome/zoe").json()["message"]
    one.stop()
    assert requests.get(comp.url + "/welcome/zoe").status_code == 503


def test_occupied_port_is_one_sentence(cleanup_servers):
    taken = servers.serve(shop.create_service_app("A", store=shop.store_path("t-port")), name="t-taken")
    with pytest.raises(WorkbookError, match="already in use"):
        intermediaries.LoadBalancer([("A", taken.url)], name="t-balancer5").start(port=taken.port)


def test_bad_input_is_one_sentence():
    with pytest.raises(WorkbookError, match="between 1 and 6"):
        shop.start_instances(0)
    with pytest.raises(WorkbookError, match="at least one"):
        intermediaries.LoadBalancer([])
    with pytest.raises(WorkbookError, match="not running"):
        intermediaries.LoadBalancer([("A", "http://127.0.0.1:1")]).url
    with pytest.raises(WorkbookError, match="not an http"):
        intermediaries.consume("localhost:5000")
    with pytest.raises(WorkbookError, match="not forwarded"):
        intermediaries.plot_spread(intermediaries.LoadBalancer([("A", "http://127.0.0.1:1")]))


def test_app_validates_items():
    app = shop.create_service_app("A", store=shop.store_path("t-valid"))
    client = app.test_client()
    assert client.post("/carts/x/items", data="nope").status_code == 400
    assert client.post("/carts/x/items", json={"item": ""}).status_code == 400


def test_store_is_shared_and_atomic(tmp_path):
    a, b = shop.KeyValueStore(tmp_path / "s.sqlite"), shop.KeyValueStore(tmp_path / "s.sqlite")
    assert a.incr("n") == 1 and b.incr("n") == 2 and a.get("n") == 2
    a.clear()
    assert b.get("n", 0) == 0


def test_checker(cleanup_servers):
    def good(store):
        from flask import Flask
        app = Flask("good")
        app.add_url_rule("/visits", "visit", lambda: {"visits": store.incr("visits")}, methods=["POST"])
        app.add_url_rule("/visits", "count", lambda: {"visits": store.get("visits", 0)}, methods=["GET"])
        return app

    def stateful(store):
        from flask import Flask
        app, n = Flask("bad"), {"v": 0}

        @app.post("/visits")
        def visit():
            n["v"] += 1
            return {"visits": n["v"]}

        app.add_url_rule("/visits", "count", lambda: {"visits": n["v"]}, methods=["GET"])
        return app

    verdict = soa_checks.check_stateless_counter(good)
    assert verdict, str(verdict)
    assert soa_checks.check_stateless_counter(good), "a count left by the first check must not count in the second"
    verdict = soa_checks.check_stateless_counter(stateful)
    assert not verdict and "lives in the instance's process" in str(verdict)
    verdict = soa_checks.check_stateless_counter(global_counter)  # instances are separate processes
    assert not verdict and "lives in the instance's process" in str(verdict)
    verdict = soa_checks.check_stateless_counter(lambda store: 1 / 0)
    assert not verdict and "ZeroDivisionError" in str(verdict)


def test_checker_says_not_attempted_for_an_empty_factory(cleanup_servers):
    from flask import Flask

    def empty(store):
        app = Flask("empty")
        return app

    for factory, said in [(empty, "no route for /visits"), (lambda store: None, "returned None")]:
        verdict = soa_checks.check_stateless_counter(factory)
        assert not verdict and not verdict.attempted and said in str(verdict)
        assert not any(ok for ok, _ in verdict.items)

    def get_only(store):   # one route without methods: GET only, so POST gets a 405
        app = Flask("get-only")
        app.add_url_rule("/visits", "visits", lambda: {"visits": store.incr("visits")})
        return app

    verdict = soa_checks.check_stateless_counter(get_only)
    assert not verdict and verdict.attempted and "405" in str(verdict) and "methods=['POST']" in str(verdict)


_VISITS = 0


def global_counter(store):
    """A wrong answer that must fail: a module-level variable looks shared only inside one process."""
    from flask import Flask

    app = Flask("global-counter")

    @app.post("/visits")
    def visit():
        global _VISITS
        _VISITS += 1
        return {"visits": _VISITS}

    @app.get("/visits")
    def count():
        return {"visits": _VISITS}

    return app


def test_median_ms_measures_and_lets_failures_propagate(cleanup_servers):
    inst = shop.start_instances(1, prefix="t-median")
    assert 0 < intermediaries.median_ms("POST", inst[0].url + "/carts/t/items", 5, json={"item": "x"}) < 1000
    inst[0].stop()
    with pytest.raises(requests.ConnectionError):  # the requests error itself: helpers.explain says it
        intermediaries.median_ms("GET", inst[0].url + "/hello", 2, timeout=1)


def test_checkout_is_asynchronous(cleanup_servers):
    import time
    solo = servers.serve(shop.create_service_app("solo", store=shop.store_path("t-async")), name="t-async")
    requests.post(solo.url + "/carts/ada/items", json={"item": "milk"}, timeout=5)
    started = time.perf_counter()
    r = requests.post(solo.url + "/carts/ada/checkout", timeout=5)
    assert r.status_code == 202 and time.perf_counter() - started < shop.ORDER_SECONDS
    assert r.json()["status"] == "preparing" and r.json()["items"] == ["milk"]
    history = shop.follow_order(solo.url + r.headers["Location"], every=0.1)
    assert history[0][1] == "preparing" and history[-1][1] == "ready"
    assert requests.get(solo.url + "/orders/nope", timeout=5).status_code == 404
    solo.stop()
    with pytest.raises(requests.ConnectionError):
        shop.follow_order(solo.url + r.headers["Location"])
