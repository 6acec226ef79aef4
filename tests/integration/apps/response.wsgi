# Response shapes PEP 3333 allows, selected by PATH_INFO (/write, /generator, ...).
# ?token=T makes close() of the returned iterable record itself in $GANTRY_STATE/T, so the
# test can see that the server called it. GANTRY_STATE comes from SetEnv.
import os
import sys
import time
import urllib.parse


def record(environ, name, text="closed"):
    state = environ.get("GANTRY_STATE")
    if state and name:
        path = os.path.join(state, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)


class Closing:
    """An iterable with close(): yields `items`, optionally raising after `raise_after`,
    optionally forever; close() records the token."""

    def __init__(self, environ, items, raise_after=None, forever=False):
        self.environ = environ
        self.items = items
        self.raise_after = raise_after
        self.forever = forever
        self.token = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("token",
                                                                                [None])[0]

    def __iter__(self):
        count = 0
        while True:
            for item in self.items:
                if self.raise_after is not None and count >= self.raise_after:
                    raise RuntimeError("gantry-test: app failed mid-stream")
                count += 1
                yield item
            if not self.forever:
                return
            if count > 20000:   # ~20 GiB at 1 MiB chunks: the client is long gone
                return

    def close(self):
        record(self.environ, self.token, "closed after %s" % ("forever" if self.forever
                                                             else "items"))


# Invalid start_response() arguments, by name (test_response.py knows what each raises).
BAD_START = {
    "status-int": (200, []),
    "status-bytes": (b"200 OK", []),
    "status-no-reason": ("200", []),
    "status-two-digits": ("20 OK", []),
    "status-four-digits": ("2000 OK", []),
    "status-no-space": ("200OK", []),
    "status-letters": ("abc OK", []),
    "status-newline": ("200 OK\n", []),
    "status-crlf": ("200 OK\r\nX-Injected: 1", []),
    "status-not-latin1": ("200 \u20ac", []),
    "headers-tuple": ("200 OK", (("A", "b"),)),
    "headers-dict": ("200 OK", {"A": "b"}),
    "header-list-item": ("200 OK", [["A", "b"]]),
    "header-str-item": ("200 OK", ["A: b"]),
    "header-three-items": ("200 OK", [("A", "b", "c")]),
    "header-one-item": ("200 OK", [("A",)]),
    "header-name-bytes": ("200 OK", [(b"A", "b")]),
    "header-value-bytes": ("200 OK", [("A", b"b")]),
    "header-value-int": ("200 OK", [("A", 5)]),
    "header-value-not-latin1": ("200 OK", [("A", "\u20ac")]),
    "header-name-not-latin1": ("200 OK", [("\u20ac", "b")]),
    "header-name-space": ("200 OK", [("A B", "b")]),
    "header-name-empty": ("200 OK", [("", "b")]),
    "header-name-newline": ("200 OK", [("A\nB", "b")]),
    "header-value-lf": ("200 OK", [("A", "b\nc")]),
    "header-value-cr": ("200 OK", [("A", "b\rc")]),
}


def application(environ, start_response):
    what = environ.get("PATH_INFO", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    plain = [("Content-Type", "text/plain")]

    if what == "/list":
        start_response("200 OK", plain)
        return [b"one ", b"two ", b"", b"three"]

    if what == "/generator":
        def gen():
            for i in range(5):
                yield b"chunk%d " % i
        start_response("200 OK", plain)
        return gen()

    if what == "/write":
        write = start_response("200 OK", plain)
        write(b"written-1 ")
        write(b"written-2 ")
        return [b"returned"]

    if what == "/write-only":
        write = start_response("200 OK", plain)
        write(b"only written")
        return []

    if what == "/close":
        start_response("200 OK", plain)
        return Closing(environ, [b"a", b"b", b"c"])

    if what == "/raise-midstream":
        start_response("200 OK", plain)
        return Closing(environ, [b"first-chunk ", b"second-chunk "], raise_after=1)

    if what == "/forever":
        start_response("200 OK", plain)
        return Closing(environ, [b"x" * (1 << 20)], forever=True)

    if what == "/content-length-short":
        start_response("200 OK", plain + [("Content-Length", "10")])
        return [b"0123456789", b"abcdefghij"]

    if what == "/exc-info-replace":
        # Headers set but nothing sent yet: exc_info lets the app replace them.
        start_response("200 OK", plain + [("X-First", "yes")])
        try:
            raise ValueError("replace me")
        except ValueError:
            start_response("500 Internal Server Error", plain + [("X-Second", "yes")],
                           sys.exc_info())
        return [b"replaced"]

    if what == "/start-twice":
        # Before any output a second call replaces the first (what frameworks do when an
        # error page replaces a half-built response).
        start_response("200 OK", plain + [("X-First", "yes")])
        try:
            start_response("201 Created", plain + [("X-Second", "yes")])
        except Exception as e:
            return [b"second start_response raised " + type(e).__name__.encode()]
        return [b"second start_response accepted"]

    if what == "/start-twice-after-output":
        write = start_response("200 OK", plain)
        write(b"sent;")
        try:
            start_response("201 Created", plain)
        except Exception as e:
            return [b"second start_response raised " + type(e).__name__.encode()]
        return [b"second start_response accepted"]

    if what == "/exc-info-not-tuple":
        try:
            start_response("500 Internal Server Error", plain, "not a tuple")
        except Exception as e:
            raised = type(e).__name__
        else:
            raised = "nothing"
        start_response("200 OK", plain)
        return [b"exc_info not a tuple raised " + raised.encode()]

    if what == "/bad-start":
        # One invalid start_response() call, named by ?case=; answers the exception type.
        case = query["case"][0]
        try:
            start_response(*BAD_START[case])
        except Exception as e:
            raised = type(e).__name__
        else:
            raised = "nothing"
        start_response("200 OK", plain)
        return [raised.encode()]

    if what == "/exc-info-after-headers":
        def gen():
            yield b"part1;"
            try:
                raise KeyError("original")
            except KeyError as original:
                try:
                    start_response("500 Internal Server Error", plain, sys.exc_info())
                except KeyError as again:
                    yield b"reraised-original:%s" % str(again is original).encode()
                    return
                except Exception as other:
                    yield b"raised-other:" + type(other).__name__.encode()
                    return
            yield b"not-raised"
        start_response("200 OK", plain)
        return gen()

    if what == "/file-wrapper":
        path = query["path"][0]
        offset = int(query.get("offset", ["0"])[0])
        f = open(path, "rb")
        f.seek(offset)
        headers = [("Content-Type", "application/octet-stream")]
        if "length" in query:
            headers.append(("Content-Length", query["length"][0]))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)

    if what == "/file-wrapper-filelike":
        import io
        data = b"".join(b"line %d\n" % i for i in range(1000))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)

    if what == "/transfer-encoding":
        start_response("200 OK", plain + [("Transfer-Encoding", "chunked")])
        return [b"hello world"]

    if what == "/slow":
        def gen():
            yield b"start;"
            time.sleep(float(query.get("delay", ["0.5"])[0]))
            yield b"end"
        start_response("200 OK", plain)
        return gen()

    start_response("404 Not Found", plain)
    return [b"unknown response shape " + what.encode()]
