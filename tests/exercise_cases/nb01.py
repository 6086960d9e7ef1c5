"""Notebook 01: a stateless visit counter, two instances in their own processes behind a balancer."""

CASES = {
    "24ece3e4": {
        "starter_hint": "@app.post('/visits')",
        "wrong": [
            # the count in a variable of the app: each instance counts its own visits
            ("from flask import Flask\n\n"
             "def create_counter_app(store):\n"
             "    app = Flask(\"counter\")\n"
             "    visits = {\"n\": 0}\n\n"
             "    @app.post(\"/visits\")\n"
             "    def visit():\n"
             "        visits[\"n\"] += 1\n"
             "        return {\"visits\": visits[\"n\"]}\n\n"
             "    @app.get(\"/visits\")\n"
             "    def count():\n"
             "        return {\"visits\": visits[\"n\"]}\n\n"
             "    return app\n",
             "lives in the instance's process"),
            # a global looks shared inside the kernel, but each instance is a process of its own
            ("from flask import Flask\n\n"
             "VISITS = 0\n\n"
             "def create_counter_app(store):\n"
             "    app = Flask(\"counter\")\n\n"
             "    @app.post(\"/visits\")\n"
             "    def visit():\n"
             "        global VISITS\n"
             "        VISITS += 1\n"
             "        return {\"visits\": VISITS}\n\n"
             "    @app.get(\"/visits\")\n"
             "    def count():\n"
             "        return {\"visits\": VISITS}\n\n"
             "    return app\n",
             "lives in the instance's process"),
            # one route without methods=: it answers GET only, and the counting POST gets a 405
            ("from flask import Flask\n\n"
             "def create_counter_app(store):\n"
             "    app = Flask(\"counter\")\n\n"
             "    @app.route(\"/visits\")\n"
             "    def visit():\n"
             "        return {\"visits\": store.incr(\"visits\")}\n\n"
             "    return app\n",
             "methods=['POST']"),
            # the factory builds the app but forgets to return it
            ("from flask import Flask\n\n"
             "def create_counter_app(store):\n"
             "    app = Flask(\"counter\")\n\n"
             "    @app.post(\"/visits\")\n"
             "    def visit():\n"
             "        return {\"visits\": store.incr(\"visits\")}\n\n"
             "    @app.get(\"/visits\")\n"
             "    def count():\n"
             "        return {\"visits\": store.get(\"visits\", 0)}\n",
             "return app"),
        ],
    },
}
