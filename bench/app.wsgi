# The one WSGI application every benchmarked server runs (mod_wsgi, Gantry, uWSGI), so
# the only difference between them is the server. Routed on the last path segment because
# the servers split SCRIPT_NAME/PATH_INFO differently (mod_proxy_uwsgi vs WSGIScriptAlias).
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELLO = b"Hello world\n"  # 12 bytes, the same as static/hello.txt
CHUNK = b"x" * 65536
CHUNKS = 16  # 16 x 64 KiB = 1 MiB, the same size as static/1mib.bin
FILE = os.path.join(HERE, "static", "1mib.bin")


def _reply(start_response, body_len, ctype="text/plain"):
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(body_len))])


def hello(environ, start_response):
    _reply(start_response, len(HELLO))
    return [HELLO]


def stream(environ, start_response):
    _reply(start_response, len(CHUNK) * CHUNKS, "application/octet-stream")
    for _ in range(CHUNKS):
        yield CHUNK


def file(environ, start_response):
    f = open(FILE, "rb")
    _reply(start_response, os.fstat(f.fileno()).st_size, "application/octet-stream")
    return environ["wsgi.file_wrapper"](f, 65536)


def upload(environ, start_response):
    stream_in = environ["wsgi.input"]
    total = 0
    while True:
        block = stream_in.read(65536)
        if not block:
            break
        total += len(block)
    body = b"%d\n" % total
    _reply(start_response, len(body))
    return [body]


def sleep(environ, start_response):
    time.sleep(0.010)
    body = b"slept\n"
    _reply(start_response, len(body))
    return [body]


ROUTES = {"hello": hello, "stream": stream, "file": file, "upload": upload, "sleep": sleep}


def application(environ, start_response):
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    handler = ROUTES.get(path.rstrip("/").rsplit("/", 1)[-1])
    if handler is None:
        body = b"unknown route %s\n" % path.encode("utf-8", "replace")
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    return handler(environ, start_response)
