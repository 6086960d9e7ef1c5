"""Notebook 03: a users service (collection, filter, item with JSON/XML/406, sub-collection)."""

_HEAD = '''users_app = Flask("users")

def find_user(user_id):
    user = next((u for u in USERS if u["id"] == user_id), None)
    if user is None:
        abort(404, description=f"no user {user_id}")
    return user
'''

_LIST = '''
@users_app.get("/v1/users")
def list_users():
    name = request.args.get("name")
    return jsonify([u for u in USERS if name is None or u["name"] == name])
'''

_ITEM = '''
@users_app.get("/v1/users/<int:user_id>")
def get_user(user_id):
    best = request.accept_mimetypes.best_match(["application/json", "application/xml"])
    if best is None:
        abort(406)
    user = find_user(user_id)
    if best == "application/xml":
        root = ET.Element("user")
        for key, value in user.items():
            ET.SubElement(root, key).text = str(value)
        return Response(ET.tostring(root, encoding="unicode"), mimetype="application/xml")
    return user
'''

_ACCOUNTS = '''
@users_app.get("/v1/users/<int:user_id>/accounts")
def list_accounts(user_id):
    find_user(user_id)
    return jsonify([a for a in ACCOUNTS if a["user_id"] == user_id])
'''

CASES = {
    "9a547ea2": {
        # the notebook's starting point: the collection without its filter, the item in JSON only
        "starter_hint": "request.args.get('name')",
        "wrong": [
            # no 406: a client that accepts neither JSON nor XML still gets JSON
            (_HEAD + _LIST + _ITEM.replace("    if best is None:\n        abort(406)\n", "") + _ACCOUNTS, "abort(406)"),
            # an unknown user's accounts answered as an empty list instead of a 404
            (_HEAD + _LIST + _ITEM + _ACCOUNTS.replace("    find_user(user_id)\n", ""), "abort(404), not []"),
            # request.args["name"] fails (400) when the query has no name
            (_HEAD + _LIST.replace('request.args.get("name")', 'request.args["name"]') + _ITEM + _ACCOUNTS,
             "request.args.get('x')"),
        ],
    },
}
