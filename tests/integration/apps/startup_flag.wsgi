"""App for the startup-timeout test: importing it fails until the file startup_ok.flag exists
next to it (the test creates it), as an application whose import needs a service that is not
up yet would. Answers {"pid": ...} once it loads."""
import json
import os

if not os.path.exists(os.path.join(os.path.dirname(__file__), "startup_ok.flag")):
    raise RuntimeError("startup_flag.wsgi: startup_ok.flag is missing (the import fails on purpose)")


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
