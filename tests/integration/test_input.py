"""wsgi.input: read(n), read(), readline(n), readline(), readlines(hint), iteration, a 5 MiB
body, and a chunked body (WSGIChunkedRequest On) - compared with what a file object
(io.BytesIO) would return for the same bytes."""
import hashlib
import io
import json
import os

import pytest

import harness

apache = harness.server("""
WSGIScriptAlias /input @APPS@/input.wsgi
<Location /input>
  WSGIChunkedRequest On
</Location>
""")

BODY = (b"first line\nsecond line is longer than the others\n\n"
        b"fourth\r\nlast line without newline")


def call(apache, mode, n=None, body=BODY):
    q = f"/input?mode={mode}" + (f"&n={n}" if n is not None else "")
    r = apache.post(q, body, headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r.text
    return r.json() if mode != "echo" else r.body


def pieces(j):
    assert j["types"] in (["bytes"], []), j["types"]
    return [p.encode("latin-1") for p in j["pieces"]]


@pytest.mark.parametrize("n", [1, 7, 64, 100000])
def test_read_n(apache, n):
    got = pieces(call(apache, "read_n", n))
    assert got[-1] == b""
    assert b"".join(got) == BODY
    # Full reads until the body runs out, like a file.
    assert all(len(p) == n for p in got[:-2])
    assert 0 < len(got[-2]) <= n


def test_read_all(apache):
    assert pieces(call(apache, "read_all")) == [BODY, b""]


@pytest.mark.parametrize("n", [3, 10, 11, 1000, -1])
def test_readline(apache, n):
    got = pieces(call(apache, "readline", n))
    f = io.BytesIO(BODY)
    expected = []
    while True:
        line = f.readline(n) if n >= 0 else f.readline()
        expected.append(line)
        if not line:
            break
    assert got == expected


@pytest.mark.parametrize("hint", [-1, 0, 5, 30])
def test_readlines(apache, hint):
    got = pieces(call(apache, "readlines", hint))
    f = io.BytesIO(BODY)
    lines = f.readlines(hint) if hint >= 0 else f.readlines()
    assert got[:-1] == lines
    assert got[-1] == b"|rest|" + f.read()


def test_iteration(apache):
    assert pieces(call(apache, "iter")) == io.BytesIO(BODY).readlines()


def test_empty_body(apache):
    assert pieces(call(apache, "read_all", body=b"")) == [b"", b""]
    assert pieces(call(apache, "iter", body=b"")) == []


def test_echo_binary(apache):
    body = bytes(range(256)) * 100
    assert call(apache, "echo", body=body) == body


def test_five_mib_body(apache):
    body = os.urandom(5 * 1024 * 1024)
    j = call(apache, "sha", body=body)
    assert j["length"] == len(body)
    assert j["sha256"] == hashlib.sha256(body).hexdigest()
    assert j["CONTENT_LENGTH"] == str(len(body))


def test_chunked_body(apache):
    parts = [os.urandom(n) for n in (1, 100, 8192, 65536, 3, 200000)]
    head = (b"POST /input?mode=sha HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    r = apache.raw(head + harness.chunked(*parts))
    assert r.status == 200
    j = json.loads(r.body)
    whole = b"".join(parts)
    assert (j["length"], j["sha256"]) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert j["input_terminated"] is True


def test_chunked_readline(apache):
    head = (b"POST /input?mode=readline&n=-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    r = apache.raw(head + harness.chunked(BODY[:5], BODY[5:20], BODY[20:]))
    assert r.status == 200
    got = pieces(json.loads(r.body))
    assert b"".join(got) == BODY
    assert got[:-1] == io.BytesIO(BODY).readlines()


def test_body_not_read_does_not_break_keepalive(apache):
    # The app ignores the body: the server must drain or close, never parse it as the next
    # request.
    conn = apache.connection()
    try:
        r = apache.request("POST", "/input?mode=none", body=b"GET /evil HTTP/1.1\r\n\r\n" * 10,
                           conn=conn)
        assert r.status == 200
        r = apache.request("POST", "/input?mode=echo", body=b"second", conn=conn)
        assert (r.status, r.body) == (200, b"second")
    except (ConnectionError, OSError):
        pass  # closing the connection is also acceptable
    finally:
        conn.close()
