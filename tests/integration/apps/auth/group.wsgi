# WSGIAuthGroupScript for the auth tests: groups_for_user() returns group names as str or
# bytes; "groupcrash" raises.
import json
import os

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "state")
GROUPS = {"alice": ["admins", "staff"], "bob": [b"staff"], "renamed-by-script": [b"admins"]}


def groups_for_user(environ, user):
    if user == "groupcrash":
        raise RuntimeError("groups_for_user failed on purpose")
    with open(os.path.join(STATE, "group_environ.json"), "w") as f:
        json.dump({"keys": sorted(environ), "application_group": environ.get("mod_wsgi.application_group")}, f)
    return GROUPS.get(user, [])
