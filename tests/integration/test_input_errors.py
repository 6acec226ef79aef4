"""wsgi.input when the request body goes wrong (issue 12), embedded and daemon mode:

- an invalid chunked body (400) or one over LimitRequestBody (413): Apache's input filter
  has answered already; the application still sees the error from read() and may answer,
  but nothing of its answer is written after Apache's, and the connection closes (mod_wsgi
  4.9.4 writes the application's answer right after Apache's error page);
- a client that hangs up in the middle of its upload: the application gets an OSError
  about the client (mod_wsgi 4.9.4 raises OSError too), not "the request body is malformed"."""
import json
import socket
import time
import uuid

import pytest

import harness

apache = harness.server("""
SetEnv GANTRY_STATE @STATE@
WSGIScriptAlias /input @APPS@/input_errors.wsgi
<Location /input>
  WSGIChunkedRequest On
</Location>
<Location /input/limited>
  LimitRequestBody 1000
</Location>
""")


def outcome(apache, token, timeout=harness.REQUEST_TIMEOUT):
    path = apache.state / f"input-{token}.json"
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the application never finished reading"
        time.sleep(0.05)
    return json.loads(path.read_text())


@pytest.mark.gantry_only("mod_wsgi 4.9.4 writes the application's answer after Apache's error page")
@pytest.mark.parametrize("url,body,status", [
    ("/input", b"zz\r\nnot a chunk size\r\n0\r\n\r\n", 400),
    ("/input/limited", harness.chunked(b"x" * 600, b"y" * 600, b"z" * 600), 413),
], ids=["bad-chunk", "over-limit"])
def test_apache_answer_to_a_bad_body_is_the_whole_response(apache, url, body, status):
    token = uuid.uuid4().hex
    head = (f"POST {url}?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    # Keep-alive requested: the server must close anyway, after Apache's answer alone.
    data, closed = apache._exchange(head + body, timeout=harness.REQUEST_TIMEOUT)
    responses = harness.split_responses(data, closed)
    assert [r.status for r in responses] == [status], data[:2000]
    assert b"APPLICATION BODY" not in data, data[:2000]
    assert closed, "the connection stayed open after an error in the request body"
    # The application did see the error (and its answer was dropped).
    assert "type" in outcome(apache, token)


@pytest.mark.log_ids(*harness.ids("client_gone"))
def test_client_gone_mid_upload_is_an_oserror_about_the_client(apache):
    token = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", apache.port), timeout=10) as s:
        s.sendall(f"POST /input?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  "Content-Length: 1000000\r\n\r\n".encode() + b"u" * 20000)
        # Hang up with 980,000 bytes still owed: whenever the application gets to them,
        # they are missing.
    got = outcome(apache, token)
    assert "OSError" in got.get("mro", []), got
    message = got["message"].lower()
    assert "malformed" not in message, got
    if harness.IS_GANTRY:
        assert "client" in message or "connection" in message, got
