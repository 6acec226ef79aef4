# An application that forks (test_daemon_fork.py).
#   /info                  JSON: pid, ppid
#   /fork-return?tag=T     os.fork(); the child writes its pid to STATE/T.pid and RETURNS
#                          into the server (a common mistake); the parent answers
#   /fork-sleep?tag=T      the child forks a grandchild and leaves; the grandchild writes
#                          its pid to STATE/T.pid and sleeps in application code
#   /spawn                 subprocess and multiprocessing (fork start method) at work
import json
import multiprocessing
import os
import subprocess
import time
import urllib.parse


def _pidfile(environ, tag):
    return os.path.join(environ["FORK_STATE"], tag + ".pid")


def _square(x):
    return x * x


def _child(queue):
    queue.put(("child", os.getpid()))


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    out = {"pid": os.getpid(), "ppid": os.getppid()}
    if path == "/fork-return":
        child = os.fork()
        if child == 0:
            with open(_pidfile(environ, q["tag"]), "w") as f:
                f.write(str(os.getpid()))
            out = {"pid": os.getpid(), "forked": True}  # and back into the server it goes
        else:
            out["child"] = child
    elif path == "/fork-sleep":
        child = os.fork()
        if child == 0:
            if os.fork() == 0:
                with open(_pidfile(environ, q["tag"]), "w") as f:
                    f.write(str(os.getpid()))
                time.sleep(600)
            os._exit(0)
        os.waitpid(child, 0)
    elif path == "/spawn":
        out["true"] = subprocess.run(["true"]).returncode
        out["echo"] = subprocess.check_output(["echo", "hi"]).decode().strip()
        ctx = multiprocessing.get_context("fork")
        # A Process first: one started after a Pool has been used exits with status 1 here,
        # under mod_wsgi 4.9.4 as well (Python's doing, not the server's).
        queue = ctx.Queue()
        p = ctx.Process(target=_child, args=(queue,))
        p.start()
        out["process"] = queue.get(timeout=30)[0]
        p.join(30)
        out["exitcode"] = p.exitcode
        with ctx.Pool(2) as pool:  # its __exit__ terminates the workers (SIGTERM)
            out["pool"] = pool.map(_square, [1, 2, 3])
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
