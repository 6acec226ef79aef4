# Reports the per-process request counting keys and the versions, with the pid of the
# process that ran the app.
import json
import os


def application(environ, start_response):
    keys = ("apache.version", "mod_wsgi.version", "mod_wsgi.thread_id",
            "mod_wsgi.thread_requests", "mod_wsgi.total_requests")
    report = {k: environ.get(k) for k in keys}
    report["pid"] = os.getpid()
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
