# The stand-in Graphite web application. On import it leaves storage/imported.PID (Graphite
# writes its own files under storage/ too), so a test can see that WSGIImportScript loaded it
# in every daemon process before any request. It answers JSON: who served the request and how
# many times this process executed graphite.wsgi.
import json
import os
import sys

STORAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "storage")

with open(os.path.join(STORAGE, "imported.%d" % os.getpid()), "w") as marker:
    marker.write("graphite_standin imported\n")


def application(environ, start_response):
    body = json.dumps({
        "app": "graphite stand-in",
        "pid": os.getpid(),
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "script_executions": getattr(sys, "graphite_wsgi_executions", 0),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
