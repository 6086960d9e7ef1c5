"""Notebook 14: a cache service (redis) that the tasks API reaches by name."""

HEAD = 'exercise = compose_checks.exercise_copy("cache")\nmodel = compose_checks.load(exercise)\n\n'
TAIL = '\ncompose_checks.save(exercise, model)\nplots.dependency_graph(exercise, title="Your compose file");\n'
DEPENDS = 'model["services"]["tasks"]["depends_on"] = {"cache": {"condition": "service_started"}}\n'


def _cache(networks: str | None = '["frontend"]', depends: bool = True) -> str:
    on = f'    "networks": {networks},\n' if networks else ""
    return (HEAD + 'model["services"]["cache"] = {\n    "image": "redis",\n' + on
            + '    "labels": compose_checks.workbook_labels(),\n}\n' + (DEPENDS if depends else "") + TAIL)


CASES = {
    "c045": {
        "starter": HEAD + "# --- your changes ---\n# ---------------------\n" + TAIL,
        "starter_hint": "Add a service `cache`",
        "wrong": [
            # no networks: the cache lands on the project's default network, tasks is on frontend only
            (_cache(networks=None), "names resolve only on a shared network"),
            # no depends_on: `compose up tasks` does not even start the cache
            (_cache(depends=False), "List cache under the depends_on of tasks"),
            # a network nobody declared
            (_cache(networks='["backend"]'), "declared in the top-level networks"),
        ],
    },
}
