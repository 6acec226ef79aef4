# Reports the process-wide Python settings that WSGIPythonHashSeed, WSGIDontWriteBytecode,
# WSGIPythonWarnings and WSGISwitchInterval (or switch-interval=) control.
import json
import os
import sys


def application(environ, start_response):
    body = json.dumps({
        "pid": os.getpid(),
        "process_group": environ.get("mod_wsgi.process_group"),
        "hash_randomization": sys.flags.hash_randomization,
        "hash": hash("gantry hash seed probe"),
        "dont_write_bytecode": sys.dont_write_bytecode,
        "warnoptions": sys.warnoptions,
        "switchinterval": sys.getswitchinterval(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
