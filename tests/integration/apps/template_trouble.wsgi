"""App for test_template_failures.py: misbehaves at import in its group's template only -
never in a daemon process - while a marker file next to it exists: GROUP.hang makes the
template's import wait until it is gone, GROUP.crash makes it exit; GROUP.hangall makes
every process's import wait, the template's and the daemon processes' alike. Processes started without a
template serve it normally; a test removes the marker to see the group recover."""
import json
import os
import time

import mod_wsgi

HERE = os.path.dirname(os.path.abspath(__file__))
GROUP = mod_wsgi.process_group
with open("/proc/self/cmdline", "rb") as f:
    IN_TEMPLATE = f.read().replace(b"\0", b" ").strip().endswith(b" template")  # "(wsgi:G) template"

while IN_TEMPLATE and os.path.exists(os.path.join(HERE, GROUP + ".hang")):
    time.sleep(0.1)  # an import waiting for something (a database...) until it is back
while os.path.exists(os.path.join(HERE, GROUP + ".hangall")):
    time.sleep(0.1)
if IN_TEMPLATE and os.path.exists(os.path.join(HERE, GROUP + ".crash")):
    os._exit(70)

STARTED = []  # template_pid of each process_started event (0: started without a template)


def _events(name, **event):
    if name == "process_started":
        STARTED.append(event["template_pid"])


mod_wsgi.subscribe_events(_events)


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "group": GROUP, "started": STARTED}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
