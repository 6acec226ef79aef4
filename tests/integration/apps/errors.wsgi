# Apps that misbehave in one way each, selected by PATH_INFO. The server must answer with a
# clean error (or cut the connection once headers are out) and keep serving.
def application(environ, start_response):
    what = environ.get("PATH_INFO", "")
    plain = [("Content-Type", "text/plain")]

    if what == "/ok":
        start_response("200 OK", plain)
        return [b"still serving"]

    if what == "/raise-before-start":
        raise RuntimeError("gantry-test: failed before start_response")

    if what == "/raise-after-start":
        # start_response called but nothing sent: still a clean 500.
        start_response("200 OK", plain)
        raise RuntimeError("gantry-test: failed after start_response, before body")

    if what == "/raise-after-body":
        def gen():
            yield b"partial body "
            raise RuntimeError("gantry-test: failed after the first body chunk")
        start_response("200 OK", plain + [("Content-Length", "100")])
        return gen()

    if what == "/raise-after-body-chunked":
        def gen():
            yield b"partial body "
            raise RuntimeError("gantry-test: failed after the first body chunk")
        start_response("200 OK", plain)
        return gen()

    if what == "/non-bytes":
        start_response("200 OK", plain)
        return ["a str, not bytes"]

    if what == "/non-bytes-later":
        start_response("200 OK", plain)
        return [b"bytes first ", "then a str"]

    if what == "/status-no-reason":
        start_response("200", plain)
        return [b"x"]

    if what.startswith("/status-1xx-"):
        # An interim status as the final one: a client would wait for the real response.
        start_response(what[len("/status-1xx-"):] + " Interim", plain)
        return [b"interim body"]

    if what == "/status-garbage":
        start_response("OK fine", plain)
        return [b"x"]

    if what == "/status-not-str":
        start_response(200, plain)
        return [b"x"]

    if what == "/status-crlf":
        start_response("200 OK\r\nX-Injected: 1", plain)
        return [b"x"]

    if what == "/header-name-space":
        start_response("200 OK", plain + [("Bad Name", "v")])
        return [b"x"]

    if what == "/header-name-colon":
        start_response("200 OK", plain + [("X-A:B", "v")])
        return [b"x"]

    if what == "/header-value-crlf":
        start_response("200 OK", plain + [("X-Split", "a\r\nX-Injected: yes")])
        return [b"x"]

    if what == "/header-value-lf":
        start_response("200 OK", plain + [("X-Split", "a\nX-Injected: yes")])
        return [b"x"]

    if what == "/header-value-nul":
        start_response("200 OK", plain + [("X-Nul", "a\x00b")])
        return [b"x"]

    if what == "/header-non-latin1":
        start_response("200 OK", plain + [("X-Euro", "\u20ac")])
        return [b"x"]

    if what == "/header-bytes":
        start_response("200 OK", plain + [(b"X-Bytes", b"v")])
        return [b"x"]

    if what == "/header-not-tuple":
        start_response("200 OK", [["Content-Type", "text/plain"]])
        return [b"x"]

    if what == "/hop-connection":
        start_response("200 OK", plain + [("Connection", "close")])
        return [b"x"]

    if what == "/hop-keep-alive":
        start_response("200 OK", plain + [("Keep-Alive", "timeout=100")])
        return [b"x"]

    if what == "/hop-upgrade":
        start_response("200 OK", plain + [("Upgrade", "websocket")])
        return [b"x"]

    if what == "/request-timeout":
        # mod_wsgi 6: the app gives up with RequestTimeout; a BaseException, so the broad
        # handler below must not catch it.
        import mod_wsgi
        start_response("200 OK", plain + [("X-Started", "yes")])
        try:
            raise mod_wsgi.RequestTimeout("gantry-test: backend did not answer")
        except Exception:
            return [b"swallowed by except Exception"]

    if what == "/request-timeout-after-body":
        import mod_wsgi

        def body():
            yield b"partial body "
            raise mod_wsgi.RequestTimeout("gantry-test: gave up midway")
        start_response("200 OK", plain)
        return body()

    if what == "/no-start-response":
        return [b"never started"]

    start_response("404 Not Found", plain)
    return [b"unknown error shape"]
