"""An app wrapped in wsgiref.validate.validator: the validator asserts on any PEP 3333
violation by the server (environ types and keys, wsgi.input/wsgi.errors methods, the
start_response/write contract, close()), so every request shape must come back 200 with no
AssertionError or WSGIWarning in the log."""
import hashlib
import os

import pytest

import harness

apache = harness.server("""
WSGIScriptAlias /v @APPS@/validated.wsgi
<Location /v>
  WSGIChunkedRequest On
</Location>
""")

BAD_SIGNS = ("AssertionError", "WSGIWarning", "Traceback", "Exception ignored")


@pytest.fixture(autouse=True)
def clean_log(apache):
    offset = apache.log_size()
    yield
    text = apache.log_text(offset)
    bad = [ln for ln in text.splitlines() if any(s in ln for s in BAD_SIGNS)]
    assert not bad, "validator complaints:\n" + "\n".join(bad)


def test_get(apache):
    r = apache.get("/v/get?x=1")
    assert (r.status, r.body) == (200, b"validated get")


def test_head(apache):
    r = apache.request("HEAD", "/v/get")
    assert (r.status, r.body) == (200, b"")


def test_post_body(apache):
    body = b"first line\n" + os.urandom(100000)
    r = apache.post("/v/post", body, headers={"Content-Type": "application/octet-stream"})
    assert (r.status, r.body) == (200, hashlib.sha256(body).hexdigest().encode())


def test_post_empty(apache):
    r = apache.post("/v/post", b"")
    assert (r.status, r.body) == (200, hashlib.sha256(b"").hexdigest().encode())


def test_readlines(apache):
    r = apache.post("/v/lines", b"a\nb\nc")
    assert (r.status, r.body) == (200, b"3 lines")


def test_chunked_post(apache):
    parts = [b"line one\n", os.urandom(5000), b"tail"]
    r = apache.raw(b"POST /v/post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + harness.chunked(*parts))
    assert (r.status, r.body) == (200, hashlib.sha256(b"".join(parts)).hexdigest().encode())


def test_write_callable(apache):
    r = apache.get("/v/write")
    assert (r.status, r.body) == (200, b"via write;and returned")


def test_generator(apache):
    r = apache.get("/v/generator")
    assert (r.status, r.body) == (200, b"g1;g2")


def test_file_wrapper(apache):
    r = apache.get("/v/file")
    assert r.status == 200
    assert r.body == (harness.APPS_DIR / "hello.wsgi").read_bytes()


@pytest.mark.log_ids(*harness.ids("app_output"))
def test_wsgi_errors_methods(apache):
    offset = apache.log_size()
    r = apache.get("/v/errors")
    assert (r.status, r.body) == (200, b"logged")
    apache.wait_for_log("validated app wrote to wsgi.errors", since=offset)
    apache.wait_for_log("line b", since=offset)
