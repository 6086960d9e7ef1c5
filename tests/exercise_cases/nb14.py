"""Notebook 14: a cache service (redis) that the tasks API reaches by name, written as YAML."""

HEAD = ('exercise = checks.exercise_copy("cache")   # a fresh copy of data/compose, for this exercise only\n'
        '(exercise / "compose.yaml").write_text("""\n')
SERVICES = '''services:
  proxy:
    build: ./proxy
    ports:
      - "127.0.0.1:${PROXY_PORT:-8080}:80"
    networks: [frontend]
    depends_on:
      tasks:
        condition: service_healthy
    healthcheck:
      test: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80"]
      interval: 2s
      retries: 15

  tasks:
    build: ./tasks
    command: ["python3", "-m", "helpers.services.tasks", "--host", "0.0.0.0", "--port", "5000", "--db", "/data/tasks.db"]
    volumes:
      - tasks-data:/data
    networks: [frontend]
    healthcheck:
      test: ["CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health')"]
      interval: 2s
      retries: 20
'''
DEPENDS = '''    depends_on:                  # yours: start the cache before tasks
      cache:
        condition: service_started
'''
CACHE = '''
  cache:                         # yours: the new service
    image: redis
    networks: [frontend]
'''
TAIL = '''
volumes:
  tasks-data:

networks:
  frontend:
""")
plots.dependency_graph(exercise, title="Your compose file");
'''


def cell(depends: str = DEPENDS, cache: str = CACHE) -> str:
    """The exercise cell with these pieces of YAML (the committed solution is ``cell()``)."""
    return HEAD + SERVICES + depends + cache + TAIL


CASES = {
    "c045": {
        "starter_hint": "Add a service `cache`",
        "wrong": [
            # no networks: the cache lands on the project's default network, tasks is on frontend only
            (cell(cache=CACHE.replace("    networks: [frontend]\n", "")), "names resolve only on a shared network"),
            # no depends_on: `compose up tasks` does not even start the cache
            (cell(depends=""), "List cache under the depends_on of tasks"),
            # a network nobody declared
            (cell(cache=CACHE.replace("[frontend]", "[backend]")), "declared in the top-level networks"),
        ],
    },
}
