"""Notebook 15: three replicas of tasks, declared in the compose file (a small YAML edit)."""

HEAD = ('exercise = checks.exercise_copy("replicas")   # a fresh copy of data/compose\n'
        'compose_file = exercise / "compose.yaml"\n'
        'text = compose_file.read_text()\n\n'
        '# --- your change: the YAML lines that go right under `  tasks:` ---\n'
        'under_tasks = """\n')
TAIL = ('"""\n'
        '# ------------------------------------------------------------------\n\n'
        'compose_file.write_text(text.replace("\\n  tasks:\\n", "\\n  tasks:\\n" + under_tasks.lstrip("\\n"), 1))\n'
        'edited = compose_file.read_text()\n'
        'print(edited[edited.index("\\n  tasks:") + 1:][:150] + "...")\n')


def cell(yaml_lines: str = "    deploy:\n      replicas: 3\n") -> str:
    """The exercise cell with these YAML lines under `tasks:` (the committed solution is ``cell()``)."""
    return HEAD + yaml_lines + TAIL


CASES = {
    "c012": {
        "starter_hint": "deploy: replicas: 3",
        "wrong": [
            # the key at the wrong level
            (cell("    replicas: 3\n"), "under the service's `deploy:`"),
            # a fixed name for three containers
            (cell("    deploy:\n      replicas: 3\n    container_name: tasks\n"), "cannot share one container_name"),
            # a fixed host port for three containers
            (cell('    deploy:\n      replicas: 3\n    ports: ["127.0.0.1:5099:5000"]\n'), "one fixed host port"),
            # one replica fewer than asked
            (cell("    deploy:\n      replicas: 2\n"), "to 3"),
        ],
    },
}
