# The reliability-checklist app (test_reliability_*.py). Every request first appends its
# PATH_INFO to $GANTRY_STATE/seen (one short O_APPEND write: whole lines even from several
# processes), so a test can tell which requests ever reached the application.
#   /info                JSON: pid, process group
#   /hold?mark=M&release=R  writes its pid to $GANTRY_STATE/M (the request is running now, on
#                        that process), then holds its thread until $GANTRY_STATE/R exists (at
#                        most 60 s); JSON: pid
#   /body?tag=T          reads the whole request body; writes what happened (JSON: length,
#                        sha256 and the environ's HTTP_ keys after the read, or the
#                        exception's type and text) to $GANTRY_STATE/body-T,
#                        and answers it; with &uncaught=1 the read's exception is left to
#                        the adapter
#   /sha                 reads the body in 1 MiB pieces, never holding it whole; JSON: length,
#                        sha256, pid, and how much the process's peak RSS (VmHWM) grew
#   /download?tag=T&mb=N  N MiB in 64 KiB blocks through the write() callable; writes what
#                        happened (JSON: bytes written, or the exception) to
#                        $GANTRY_STATE/download-T
#   /raise               raises, with this file's path and a marker in the message
#   /kill9               SIGKILL to its own process before any response (daemon mode)
#   /ctype?t=TOKEN       answers TOKEN with a Content-Type built from it
#                        (text/x-TOKEN; charset=...), a header made anew for each request
#   /crash?spare=PID     embedded mode: a real SIGSEGV of the process (ctypes reads address
#                        0; 409 instead on process PID), without a core file (RLIMIT_CORE
#                        lowered first: a test crash must not write a core of an Apache
#                        child to disk)
import hashlib
import json
import os
import signal
import time
from urllib.parse import parse_qs


def _state(environ, name):
    return os.path.join(environ["GANTRY_STATE"], name)


def _answer(start_response, info):
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ):
    try:
        data = environ["wsgi.input"].read()
        # What the environ holds once the whole body (and any trailer) was read.
        return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "http_keys": sorted(k for k in environ if k.startswith("HTTP_")),
                "input_terminated": environ.get("wsgi.input_terminated")}
    except Exception as e:  # what the test wants to see is the type the app got
        return {"error": type(e).__name__, "is_oserror": isinstance(e, OSError),
                "text": str(e)}


def _peak_rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _hash_body(environ):
    before = _peak_rss_kib()
    h, length = hashlib.sha256(), 0
    stream = environ["wsgi.input"]
    while True:
        piece = stream.read(1024 * 1024)
        if not piece:
            break
        h.update(piece)
        length += len(piece)
    return {"length": length, "sha256": h.hexdigest(),
            "peak_rss_growth_kib": _peak_rss_kib() - before}


def _crash():
    import ctypes
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ctypes.string_at(0)


def _download(environ, start_response, query):
    write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
    block = b"d" * 65536
    written = 0
    try:
        for _ in range(int(query["mb"]) * 16):
            write(block)
            written += len(block)
        outcome = {"written": written}
    except Exception as e:
        outcome = {"error": type(e).__name__, "is_oserror": isinstance(e, OSError),
                   "text": str(e), "written": written}
    with open(_state(environ, "download-" + query["tag"]), "w") as f:
        json.dump(outcome, f)
    return []


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    fd = os.open(_state(environ, "seen"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (path + "\n").encode())
    finally:
        os.close(fd)
    info = {"pid": os.getpid(), "process_group": environ.get("mod_wsgi.process_group", "")}
    if path == "/hold":
        with open(_state(environ, query["mark"]), "w") as f:
            f.write(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not os.path.exists(_state(environ, query["release"])):
            if time.monotonic() > deadline:
                raise RuntimeError("never released")
            time.sleep(0.01)
    elif path == "/body":
        if "uncaught" in query:  # what the app does not catch is the adapter's to answer
            environ["wsgi.input"].read()
        info.update(_read_body(environ))
        with open(_state(environ, "body-" + query["tag"]), "w") as f:
            json.dump(info, f)
    elif path == "/raise":
        raise RuntimeError(f"SECRET-DETAIL from {__file__}")
    elif path == "/kill9":
        os.kill(os.getpid(), signal.SIGKILL)
    elif path == "/ctype":
        token = query["t"]
        body = token.encode()
        start_response("200 OK", [("Content-Type", f"text/x-{token}; charset={token}-cs"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    elif path == "/sha":
        info.update(_hash_body(environ))
    elif path == "/download":
        return _download(environ, start_response, query)
    elif path == "/crash":
        if query.get("spare") == str(os.getpid()):
            start_response("409 Conflict", [("Content-Type", "text/plain")])
            return [b"spared"]
        _crash()
    return _answer(start_response, info)
