# WSGIAccessScript for the auth tests: allow_access(environ, host) decides by the URL:
# .../deny -> False, .../crash -> raises, .../none -> None (no opinion), .../bad -> not a bool;
# anything else -> True. Each call records the environ keys and the host it was given.
import json
import os

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "state")


def allow_access(environ, host):
    uri = environ["REQUEST_URI"]
    with open(os.path.join(STATE, "access_environ.json"), "w") as f:
        json.dump({"keys": sorted(environ), "host": host, "uri": uri,
                   "application_group": environ.get("mod_wsgi.application_group"),
                   "pid": os.getpid()}, f)
    if uri.endswith("/deny"):
        return False
    if uri.endswith("/crash"):
        raise RuntimeError("allow_access failed on purpose")
    if uri.endswith("/none"):
        return None
    if uri.endswith("/bad"):
        return "yes"
    return True
