# Tries what WSGIRestrictStdin/Stdout/Signal restrict and reports what happened.
import json
import signal
import sys
import threading


def attempt(fn):
    try:
        return {"ok": True, "result": repr(fn())}
    except BaseException as e:  # noqa: B902 - report whatever the server raised
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def handler(signum, frame):
    pass


def application(environ, start_response):
    what = environ.get("QUERY_STRING", "")
    if what == "stdin":
        result = attempt(lambda: sys.stdin.read(1))
    elif what == "stdout":
        result = attempt(lambda: print("gantry-test stdout line", flush=True))
    elif what == "signal":
        before = signal.getsignal(signal.SIGUSR2)
        result = attempt(lambda: signal.signal(signal.SIGUSR2, handler))
        result["installed"] = signal.getsignal(signal.SIGUSR2) is handler
        result["main_thread"] = threading.current_thread() is threading.main_thread()
        signal.signal  # keep the name bound
        if result["installed"]:
            # Leave the process as we found it.
            try:
                signal.signal(signal.SIGUSR2, before)
            except Exception:
                pass
    else:
        result = {"error": "unknown"}
    body = json.dumps(result).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
