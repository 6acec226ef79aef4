# mod_wsgi's script reloading hooks (WSGIScriptReloading On, the default). The module defines
# reload_required(resource), which the server asks on every request: it answers True when
# the token file next to this script names another token than the one this module loaded
# with ("raise" makes it raise). ?drop-mtime deletes the module's __mtime__, which makes
# the next request in this process reload it.
import json
import os
import sys

TOKEN_FILE = os.path.join(os.path.dirname(__file__), "reload_hook.token")


def read_token():
    try:
        with open(TOKEN_FILE) as f:
            return f.read().strip()
    except OSError:
        return ""


TOKEN = read_token()
sys.gantry_reload_hook_loads = getattr(sys, "gantry_reload_hook_loads", 0) + 1
asked = []


def reload_required(resource):
    asked.append(resource)
    token = read_token()
    if token == "raise":
        raise LookupError("gantry-test: reload check failed")
    return token != TOKEN


def application(environ, start_response):
    module_globals = globals()
    mtime_type = type(module_globals.get("__mtime__")).__name__
    if environ.get("QUERY_STRING") == "drop-mtime":
        del module_globals["__mtime__"]
    body = json.dumps({"pid": os.getpid(), "token": TOKEN, "loads": sys.gantry_reload_hook_loads,
                       "asked": asked[-1] if asked else None, "mtime_type": mtime_type}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
