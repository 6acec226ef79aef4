"""Request bodies that arrive slowly or carry more than a body, embedded (/emb) and in a
one-thread daemon group (/dmn), each MPM.

Reliability checklist R12: a client sends its request body at 1 byte/s, with Apache's own
mod_reqtimeout bounding the body (`RequestReadTimeout body=2`; Debian's default is 20 s at
500 bytes/s). The application's wsgi.input.read() raises OSError ("request body read timed
out") once Apache gives up, the connection closes, and the thread is free again: the next
request to a one-thread daemon group is served by the same process.

What the client gets (checklist: 408, never 500):
- the application does not catch the OSError: 408 Request Timeout, in both modes (Apache's
  answer to a request that did not arrive in time; the traceback is logged, GANTRY0109).
  mod_wsgi 4.9.4 answers 408 in daemon mode but 500 in embedded mode;
- the application catches it and answers: its answer, with the connection closed (the rest
  of the body never came). mod_wsgi 4.9.4 does that in embedded mode; in daemon mode it
  answers 408 whatever the application did.

Security checklist S16: a chunked body (WSGIChunkedRequest On) whose trailer carries a
header: the application reads exactly the body, wsgi.input_terminated is True, and the
trailer field never shows up in the environ (not even after the body was read)."""
import hashlib
import json

import pytest

import harness
import reliability_clients as clients

CONFIG = """
RequestReadTimeout header=10 body=2
WSGIChunkedRequest On
WSGIDaemonProcess single processes=1 threads=1 display-name=%{GROUP}
WSGIScriptAlias /emb @APPS@/reliability.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dmn @APPS@/reliability.wsgi process-group=single application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
"""
apache = harness.server(CONFIG, extra_modules=["reqtimeout"])

BODY_TIMEOUT = 2.0
PACE = 1.0        # one byte a second
DECLARED = 100    # bytes the head announces: never all sent within the timeout


def expected_status(prefix, caught):
    if harness.IS_GANTRY:
        return 200 if caught else 408
    # Debian's mod_wsgi 4.9.4, the reference: it differs between its own two modes.
    if prefix == "/dmn":
        return 408
    return 200 if caught else 500


@pytest.mark.log_ids(*harness.ids("app_exception"))
@pytest.mark.parametrize("caught", [True, False], ids=["caught", "uncaught"])
def test_slow_body_is_cut_and_frees_the_thread(apache, caught):
    single = apache.get_json("/dmn/info")["pid"]
    prefixes = ["/emb", "/dmn"]
    tags = {p: apache.new_mark() for p in prefixes}
    query = "" if caught else "&uncaught=1"
    heads = [f"POST {p}/body?tag={tags[p]}{query} HTTP/1.1\r\nHost: x\r\n"
             f"Content-Length: {DECLARED}\r\n\r\n".encode() for p in prefixes]
    slow = clients.Trickle(apache, heads, b"x" * DECLARED, pace=PACE,
                           limit=BODY_TIMEOUT + harness.REQUEST_TIMEOUT).wait()
    for i, (prefix, r) in enumerate(zip(prefixes, slow.responses())):
        where = (prefix, r.status, r.data[:300])
        # Cut by the body timeout, not by the client running out of bytes or patience.
        assert slow.sent[i] < DECLARED, where
        assert r.closed, where
        assert BODY_TIMEOUT - 0.5 <= slow.answered_after[i] < BODY_TIMEOUT + 10, \
            (where, slow.answered_after[i])
        assert r.status == expected_status(prefix, caught), where
        if r.status == 200:
            # The application saw the timeout as an OSError (and answered it).
            seen = json.loads(r.body)
            assert seen["is_oserror"] and "length" not in seen, seen
            if harness.IS_GANTRY:
                assert "timed out" in seen["text"], seen
        else:
            assert b"pid" not in r.body, where  # Apache's page, nothing of the application
        if not caught:
            assert not (apache.state / f"body-{tags[prefix]}").exists()
    # The daemon thread is free again: the one-thread group answers at once, same process.
    assert apache.get_json("/dmn/info")["pid"] == single


@pytest.mark.parametrize("prefix", ["/emb", "/dmn"])
def test_chunked_trailer_never_reaches_the_environ(apache, prefix):
    pieces = [b"first;", b"x" * 70000, b";last"]
    body = harness.chunked(*pieces)
    assert body.endswith(b"0\r\n\r\n")
    body = body[:-2] + b"X-Evil: 1\r\nContent-Length: 5\r\n\r\n"  # the trailer section
    r = apache.raw(f"POST {prefix}/body?tag={apache.new_mark()} HTTP/1.1\r\nHost: x\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode() + body,
                   timeout=harness.REQUEST_TIMEOUT)
    assert r.status == 200, r.data[:300]
    seen = json.loads(r.body)
    whole = b"".join(pieces)
    assert seen["length"] == len(whole), seen
    assert seen["sha256"] == hashlib.sha256(whole).hexdigest(), seen
    assert seen["input_terminated"] is True, seen
    assert "HTTP_X_EVIL" not in seen["http_keys"], seen
    assert "HTTP_HOST" in seen["http_keys"], seen  # the request's own headers are there
