"""App for test_modwsgi_shutdown.py: registers a mod_wsgi.subscribe_shutdown() callback at
import that writes <ServerRoot>/state/shutdown-<pid> with the shutdown_reason (and counts
how often it ran, which must be once). Every answer names the process that served it."""
import json
import os
from pathlib import Path

import mod_wsgi

STATE = Path(__file__).resolve().parent.parent / "state"
_calls = []


@mod_wsgi.subscribe_shutdown
def mark(name, **event):
    _calls.append(event.get("shutdown_reason"))
    path = STATE / f"shutdown-{os.getpid()}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"event": name, "reasons": _calls}))
    os.replace(tmp, path)


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "group": mod_wsgi.process_group}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
