"""Notebook 06: a client for the tasks service (create, complete, raise on a missing task, a timeout)."""

_CREATE = '''def create_task(base_url, title):
    response = requests.post(f"{base_url}/tasks", json={"title": title}, timeout=5)
    response.raise_for_status()
    return response.json()["id"]
'''

_COMPLETE = '''def complete_task(base_url, task_id):
    response = requests.patch(f"{base_url}/tasks/{task_id}", json={"done": True}, timeout=5)
    response.raise_for_status()
    return response.json()
'''

CASES = {
    "99c3eb40": {
        "starter_hint": "In create_task, POST the title",
        "wrong": [
            # no timeout anywhere: against a service that never answers, create_task waits forever
            ((_CREATE + "\n\n" + _COMPLETE).replace(", timeout=5", ""), "pass timeout=5 to every call"),
            # the error body of a missing task is returned instead of raising
            (_CREATE + "\n\n" + _COMPLETE.replace("    response.raise_for_status()\n", ""), "raise_for_status()"),
            # PUT replaces the whole task: without a title the service refuses it
            (_CREATE + "\n\n" + _COMPLETE.replace("requests.patch", "requests.put"), "requests.patch"),
            # the whole task instead of its id
            (_CREATE.replace('response.json()["id"]', "response.json()") + "\n\n" + _COMPLETE,
             "returns the new id as an int"),
        ],
    },
}
