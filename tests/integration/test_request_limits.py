"""Apache's request limits stand in front of the application (reliability checklist S17):
a request line, a header field, a header count or a body over LimitRequestLine,
LimitRequestFieldSize, LimitRequestFields or LimitRequestBody is answered by Apache itself
(414, 400, 400, 413). An oversized request head never reaches the application; an oversized
body is refused at the application's first read - embedded or in a daemon process.

The application appends a line to a file in the state directory on every call, so "never
reaches" is checked directly; a request within the limits shows that the count works."""
import pytest

import harness

APP = """
def application(environ, start_response):
    with open("@STATE@/calls", "a") as f:
        f.write(environ["PATH_INFO"] + "\\n")
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"read %d" % len(body)]
"""

CONFIG = """
LimitRequestLine 1024
LimitRequestFieldSize 1024
LimitRequestFields 20
WSGIScriptAlias /limits @ROOT@/limits.wsgi
<Location /limits>
  LimitRequestBody 1000
</Location>
"""
apache = harness.server(CONFIG, files={"limits.wsgi": APP})


def calls(apache):
    path = apache.state / "calls"
    return path.read_text().split() if path.exists() else []


def send(apache, head: bytes, body: bytes = b""):
    return apache.raw(head + b"Connection: close\r\n\r\n" + body, timeout=harness.REQUEST_TIMEOUT)


def test_within_the_limits_reaches_the_app(apache):
    r = send(apache, b"POST /limits/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n", b"0123456789")
    assert (r.status, r.body) == (200, b"read 10")
    assert "/ok" in calls(apache)


HEADS = {
    "line": (b"GET /limits/line?" + b"q" * 2000 + b" HTTP/1.1\r\nHost: x\r\n", 414),
    "field": (b"GET /limits/field HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 2000 + b"\r\n", 400),
    "fields": (b"GET /limits/fields HTTP/1.1\r\nHost: x\r\n"
               + b"".join(b"X-F%d: v\r\n" % i for i in range(30)), 400),
}


@pytest.mark.parametrize("case", sorted(HEADS))
def test_oversized_request_head_is_apaches_answer(apache, case):
    head, status = HEADS[case]
    r = send(apache, head)
    assert r.status == status, r.data[:300]
    assert f"/{case}" not in calls(apache)


@pytest.mark.log_ids("GANTRY0109")  # the app's read() raises, and it does not catch it
def test_body_over_limit_request_body_is_413_and_no_byte_reaches_the_app(apache):
    """The body limit is Apache's too, but Apache checks it when the body is first read,
    so the application is called (as with mod_wsgi): its read() raises OSError before it
    gets a byte, and the client gets Apache's 413."""
    r = send(apache, b"POST /limits/body HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n", b"b" * 5000)
    assert r.status == 413, r.data[:300]
    assert b"read " not in r.body
    if harness.IS_GANTRY:
        apache.wait_for_log(r"OSError: .*LimitRequestBody")
