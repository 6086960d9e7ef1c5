"""Notebook 05: the PUT route of the tasks API (404, 415/400, replace and answer 200)."""

CASES = {
    "e85bd542": {
        # the notebook's stub: a PUT route that answers 501 Not Implemented
        "starter_hint": "404 when store.get(task_id) is None",
        "wrong": [
            # no 404: store.replace of a missing task gives None, and the view crashes
            ('''def put_step(app):
    @app.put(PREFIX + "/<int:task_id>")
    def replace_task(task_id):
        return store.replace(task_id, validate(json_body()))
''', "look the task up first (store.get)"),
            # no validation: any JSON is stored as it is
            ('''def put_step(app):
    @app.put(PREFIX + "/<int:task_id>")
    def replace_task(task_id):
        if store.get(task_id) is None:
            abort(404, description=f"There is no task with id {task_id}")
        return store.replace(task_id, request.get_json())
''', "validate(json_body()) before storing"),
            # 201 is for a create: a replaced task is a 200
            ('''def put_step(app):
    @app.put(PREFIX + "/<int:task_id>")
    def replace_task(task_id):
        if store.get(task_id) is None:
            abort(404, description=f"There is no task with id {task_id}")
        return store.replace(task_id, validate(json_body())), 201
''', "expected 200, got 201"),
            # the route on the collection instead of the member URI
            ('''def put_step(app):
    @app.put(PREFIX)
    def replace_task():
        abort(400, description="which task?")
''', "no route accepts PUT"),
        ],
    },
}
