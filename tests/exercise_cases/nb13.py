"""Notebook 13: scale the service to 4 replicas."""

CASES = {
    "c019": {
        "starter": "# --- your code ---\n# -----------------",
        "starter_hint": "wanted: 4",  # the demonstration left 3 replicas: the check says what it found
        "wrong": [
            ("swarm.scale(web, 5)", "asks for 5 replica(s) (wanted: 4)"),
            # a second service with 4 replicas is not the service the exercise names
            ("other = swarm.create_service('web-b', replicas=4)", "swarm.scale(web, 4)"),
        ],
    },
}
