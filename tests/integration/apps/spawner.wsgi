"""App for the spawner tests: names the process that served the request and the Python it
runs - sys.path, sys.prefix, the process group as mod_wsgi reports it, LANG - so a test can
check that every process of a group, first or recycled, started from its own settings."""
import json
import os
import sys

import mod_wsgi


def application(environ, start_response):
    info = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "path": sys.path,
        "prefix": sys.prefix,
        "process_group": mod_wsgi.process_group,
        "environ_process_group": environ.get("mod_wsgi.process_group"),
        "lang": os.environ.get("LANG"),
    }
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
