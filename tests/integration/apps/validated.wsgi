# An app wrapped in wsgiref.validate.validator: any PEP 3333 violation by the SERVER (environ
# shape, wsgi.input/errors methods, start_response contract) raises AssertionError -> 500,
# and WSGIWarning goes to the error log. Shapes by PATH_INFO.
import hashlib
import os
import warnings
from wsgiref.validate import validator

warnings.simplefilter("always")


def inner(environ, start_response):
    what = environ.get("PATH_INFO", "")
    plain = [("Content-Type", "text/plain")]
    if what == "/get":
        start_response("200 OK", plain)
        return [b"validated get"]
    if what == "/post":
        stream = environ["wsgi.input"]
        digest = hashlib.sha256()
        first = stream.readline(100)
        digest.update(first)
        while True:
            piece = stream.read(4096)
            if not piece:
                break
            digest.update(piece)
        start_response("200 OK", plain)
        return [digest.hexdigest().encode()]
    if what == "/lines":
        stream = environ["wsgi.input"]
        lines = stream.readlines()
        start_response("200 OK", plain)
        return [b"%d lines" % len(lines)]
    if what == "/write":
        write = start_response("200 OK", plain)
        write(b"via write;")
        return [b"and returned"]
    if what == "/generator":
        def gen():
            yield b"g1;"
            yield b"g2"
        start_response("200 OK", plain)
        return gen()
    if what == "/file":
        path = os.path.join(os.path.dirname(__file__), "hello.wsgi")
        start_response("200 OK", plain)
        return environ["wsgi.file_wrapper"](open(path, "rb"), 1024)
    if what == "/errors":
        environ["wsgi.errors"].write("validated app wrote to wsgi.errors\n")
        environ["wsgi.errors"].writelines(["line a\n", "line b\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", plain)
        return [b"logged"]
    start_response("404 Not Found", plain)
    return [b"?"]


application = validator(inner)
