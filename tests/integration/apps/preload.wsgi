"""App for the template tests (docs/template.md): records where and when it was imported and
which after-fork hooks ran, so a test can tell whether it was imported in the group's template
(preload=On) or in each process, and that both hooks an application can use after the
template's fork - os.register_at_fork and Gantry's process_started event - ran in the
process that serves."""
import json
import os
import random
import sys
import threading

import mod_wsgi

IMPORT_PID = os.getpid()
IMPORT_PPID = os.getppid()
AFTER_FORK = []        # pids in which os.register_at_fork(after_in_child=...) ran
STARTED = []           # process_started events seen: (pid, template_pid, preloaded, group)
RANDOM_AT_START = []   # random.random() right after the fork: differs between processes
FDS_AT_FORK = []       # what the template had open when it forked this process (its
                       # before-fork hook runs there; the child inherits the list)


def _after_fork():
    AFTER_FORK.append(os.getpid())


def _before_fork():
    held = []
    for name in os.listdir("/proc/self/fd"):
        try:
            held.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:
            pass
    FDS_AT_FORK[:] = sorted(held)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork)


def _events(name, **event):
    if name == "process_started":
        STARTED.append([os.getpid(), event["template_pid"], event["preloaded"], event["process_group"]])
        RANDOM_AT_START.append(random.random())


mod_wsgi.subscribe_events(_events)


def application(environ, start_response):
    info = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "import_pid": IMPORT_PID,
        "import_ppid": IMPORT_PPID,
        "after_fork": AFTER_FORK,
        "started": STARTED,
        "random": RANDOM_AT_START,
        "path": sys.path,
        "threads": threading.active_count(),
        "fds_at_fork": FDS_AT_FORK,
    }
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
