"""Notebook 04: one small Flask app with routes, converters, methods, cookies, error handlers and hooks."""

_SOLUTION = '''basics_app = Flask("basics")

@basics_app.before_request
def start_clock():
    g.start = time.perf_counter()

@basics_app.after_request
def stop_clock(response):
    response.headers["X-Elapsed-ms"] = f"{(time.perf_counter() - g.start) * 1000:.3f}"
    return response

@basics_app.errorhandler(404)
def not_found(e):
    return {"error": "not found", "path": request.path}, 404

@basics_app.route("/hello/<name>")
def hello(name):
    return f"<p>Hello, {name}!</p>"

@basics_app.route("/square/<int:n>")
def square(n):
    return {"n": n, "square": n * n}

@basics_app.route("/echo", methods=["POST"])
def echo():
    return {"method": request.method, "args": request.args.to_dict(), "json": request.get_json(silent=True)}

@basics_app.route("/visit")
def visit():
    visits = int(request.cookies.get("visits", "0")) + 1
    response = make_response(f"<p>Visit number {visits}</p>")
    response.set_cookie("visits", str(visits))
    return response
'''


def _without(old: str, new: str = "") -> str:
    assert old in _SOLUTION, old
    return _SOLUTION.replace(old, new)


CASES = {
    "069902b5": {
        # the notebook's starting point: only /hello works
        "starter_hint": "<int:n>",
        "wrong": [
            # the after_request hook reads g.start, but no before_request hook sets it: every request is a 500
            (_without('@basics_app.before_request\ndef start_clock():\n    g.start = time.perf_counter()\n'),
             "in stop_clock()"),
            # the 404 handler answers HTML
            (_without('return {"error": "not found", "path": request.path}, 404', 'return "<h1>Not found</h1>", 404'),
             "returning a dict and 404"),
            # GET allowed on /echo
            (_without('methods=["POST"]', 'methods=["GET", "POST"]'), "only POST should be allowed on /echo"),
            # the cookie is set but never read back: every visit is number 1
            (_without('int(request.cookies.get("visits", "0")) + 1', '1'), "request.cookies.get('visits', '0')"),
        ],
    },
}
