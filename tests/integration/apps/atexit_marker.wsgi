# Registers an atexit handler that leaves a marker file named after the process and its
# application group, so a test can tell whether the process ran its interpreters' exit
# handlers when it ended (WSGIDestroyInterpreter).
import atexit
import os

import mod_wsgi

MARKERS = os.path.join(os.path.dirname(__file__), "markers")


def leave_marker(pid, group):
    name = "GLOBAL" if not group else "sub"  # group names hold '/' and ':'
    with open(os.path.join(MARKERS, f"atexit-{pid}-{name}"), "a") as f:
        f.write("ran\n")


atexit.register(leave_marker, os.getpid(), mod_wsgi.application_group)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()} {mod_wsgi.application_group}".encode()]
