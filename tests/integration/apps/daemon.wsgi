# The daemon-mode test app (test_daemon_*.py). One path per behaviour:
#   /info           JSON: pid, uid, gid, groups, process group, thread
#   /exit           os._exit(3) before any response
#   /kill9          SIGKILL to itself before any response
#   /kill9-midstream?cl=N  headers (Content-Length N if given, else chunked) and a first
#                   flushed block, then SIGKILL to itself
#   /sleep?s=N      sleeps N seconds, then answers (socket-timeout / queue-timeout);
#                   &mark=NAME first creates $GANTRY_STATE/NAME
#   /bigheader?n=N  a response header of N bytes (header-buffer-size)
#   /exhaust?token=T  opens descriptors until the process has none left (soft limit
#                   lowered to 64 first), also the one its connection frees (then mkdir
#                   $GANTRY_STATE/full-T), and keeps them until $GANTRY_STATE/release-T exists
#   /manyheaders?count=N&size=S  N headers of S bytes each (together over the frame limit)
#   /upload         reads the whole body; JSON: length and sha256
#   /download?mb=N  N MiB of deterministic bytes, streamed in 64 KiB items
#   /bogus-cl       Content-Length: 5 and a body that carries a whole second response
#   /location-200   200 with a Location header (must not be an internal redirect)
#   /handler-type   a Content-Type naming an Apache handler (must not run it)
import hashlib
import json
import os
import signal
import threading
import time


def _query(environ):
    out = {}
    for part in environ.get("QUERY_STRING", "").split("&"):
        if part:
            k, _, v = part.partition("=")
            out[k] = v
    return out


def download_block():
    return hashlib.sha256(b"gantry").digest() * 2048  # 64 KiB


def _exhaust_descriptors(state, token):
    """Takes every descriptor the process may have, also the one its current connection
    frees when it ends; mkdir()s $GANTRY_STATE/full-T (mkdir needs no descriptor) once that
    one is taken too, and gives all back when $GANTRY_STATE/release-T exists."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(64, hard), hard))
    held = []

    def grab():
        try:
            while True:
                held.append(os.open("/dev/null", os.O_RDONLY))
        except OSError:
            pass
    grab()
    first = len(held)

    def keep_full():
        full = os.path.join(state, "full-" + token)
        while not os.path.exists(os.path.join(state, "release-" + token)):
            grab()
            if len(held) > first and not os.path.exists(full):
                os.mkdir(full)
            time.sleep(0.005)
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    threading.Thread(target=keep_full, daemon=True).start()
    return first


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = _query(environ)
    plain = [("Content-Type", "text/plain")]

    if path == "/exit":
        os._exit(3)
    if path == "/kill9":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
    if path == "/kill9-midstream":
        headers = plain + ([("Content-Length", q["cl"])] if "cl" in q else [])
        start_response("200 OK", headers)

        def stream():
            yield b"first block;"
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(10)
            yield b"never sent"
        return stream()
    if path == "/sleep":
        if "mark" in q:  # tells the test this thread is busy now (harness.wait_for_mark)
            open(os.path.join(environ["GANTRY_STATE"], q["mark"]), "w").close()
        time.sleep(float(q.get("s", "1")))
        start_response("200 OK", plain)
        return [b"slept"]
    if path == "/bigheader":
        start_response("200 OK", plain + [("X-Big", "b" * int(q["n"]))])
        return [b"big"]
    if path == "/exhaust":
        held = _exhaust_descriptors(environ["GANTRY_STATE"], q["token"])
        start_response("200 OK", plain)
        return [str(held).encode()]
    if path == "/manyheaders":
        size = int(q["size"])
        start_response("200 OK", plain + [(f"X-Many-{i}", "m" * size) for i in range(int(q["count"]))])
        return [b"many"]
    if path == "/upload":
        h = hashlib.sha256()
        n = 0
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        body = json.dumps({"length": n, "sha256": h.hexdigest()}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/download":
        blocks = int(q.get("mb", "1")) * 16
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(blocks * 65536))])
        block = download_block()
        return (block for _ in range(blocks))
    if path == "/bogus-cl":
        smuggled = (b"HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 8\r\n\r\nsmuggled")
        start_response("200 OK", plain + [("Content-Length", "5")])
        return [b"hello" + smuggled]
    if path == "/bogus-te":
        start_response("200 OK", plain + [("Transfer-Encoding", "chunked")])
        return [b"0\r\n\r\nHTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 0\r\n\r\n"]
    if path == "/location-200":
        start_response("200 OK", plain + [("Location", "/elsewhere")])
        return [b"original body"]
    if path == "/handler-type":
        start_response("200 OK", [("Content-Type", "application/x-httpd-cgi")])
        return [b"just bytes"]

    info = {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "process_group": environ.get("mod_wsgi.process_group"),
        "thread": threading.get_ident(),
    }
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
