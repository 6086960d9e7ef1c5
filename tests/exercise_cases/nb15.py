"""Notebook 15: three replicas of tasks, declared in the compose file."""

HEAD = 'exercise = compose_checks.exercise_copy("replicas")\nmodel = compose_checks.load(exercise)\n\n'
TAIL = "\ncompose_checks.save(exercise, model);\n"
TASKS = 'model["services"]["tasks"]'

CASES = {
    "c012": {
        "starter": HEAD + "# --- your change ---\n# -------------------\n" + TAIL,
        "starter_hint": "deploy: replicas: 3",
        "wrong": [
            # the key at the wrong level
            (HEAD + f'{TASKS}["replicas"] = 3\n' + TAIL, "under the service's `deploy:`"),
            # a fixed name for three containers
            (HEAD + f'{TASKS}["deploy"] = {{"replicas": 3}}\n{TASKS}["container_name"] = "tasks"\n' + TAIL,
             "cannot share one container_name"),
            # a fixed host port for three containers
            (HEAD + f'{TASKS}["deploy"] = {{"replicas": 3}}\n{TASKS}["ports"] = ["127.0.0.1:5099:5000"]\n' + TAIL,
             "one fixed host port"),
            # one replica fewer than asked
            (HEAD + f'{TASKS}["deploy"] = {{"replicas": 2}}\n' + TAIL, "to 3"),
        ],
    },
}
