# The app behind test_dispatch_script.py's locations: the environ keys that show where it
# ran, from whichever callable the dispatch script chose.
import json


def _reply(environ, start_response, name):
    body = json.dumps({
        "callable": name,
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "callable_object": environ.get("mod_wsgi.callable_object"),
        "daemon": "mod_wsgi.daemon_start" in environ,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def application(environ, start_response):
    return _reply(environ, start_response, "application")


def other(environ, start_response):
    return _reply(environ, start_response, "other")
