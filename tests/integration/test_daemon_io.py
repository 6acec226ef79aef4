"""Bodies and response framing through daemon mode (issue 3), and the same checks embedded
(the file runs in both modes, see conftest's `mode`).

- 5 MiB upload with Content-Length, and a chunked upload: the app sees every byte (sha256).
- 64 MiB streamed download: the client gets every byte (sha256), with the app's
  Content-Length.
- The response framing is Apache's: a bogus Content-Length or Transfer-Encoding from the app
  cannot split or smuggle a response; the next response on the keep-alive connection is the
  real one.
- A Location header with status 200, or a Content-Type naming a handler, is passed to the
  client as-is: never an internal redirect or another handler (mod_wsgi's daemon mode does
  an internal redirect for Location + 200)."""
import hashlib
import json
import os

import pytest

import harness

CONFIG = """
WSGIChunkedRequest On
WSGIScriptAlias /d @APPS@/daemon.wsgi
"""
apache = harness.server(CONFIG)


def download_sha(mb: int) -> str:
    block = hashlib.sha256(b"gantry").digest() * 2048
    h = hashlib.sha256()
    for _ in range(mb * 16):
        h.update(block)
    return h.hexdigest()


def test_5_mib_upload(apache):
    body = os.urandom(5 * 1024 * 1024)
    r = apache.post("/d/upload", body)
    assert r.status == 200, r.text
    assert r.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_chunked_upload(apache):
    pieces = [os.urandom(n) for n in (1, 70000, 3, 1024 * 1024, 65536, 17)]
    whole = b"".join(pieces)
    request = (b"POST /d/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n" + harness.chunked(*pieces))
    r = apache.raw(request, timeout=20)
    assert r.status == 200, r.data[:300]
    assert json.loads(r.body) == {"length": len(whole),
                                  "sha256": hashlib.sha256(whole).hexdigest()}


def test_64_mib_streamed_download(apache):
    conn = apache.connection(timeout=60)
    try:
        conn.request("GET", "/d/download?mb=64")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(64 * 1024 * 1024)
        h = hashlib.sha256()
        total = 0
        while True:
            chunk = resp.read(1024 * 1024)
            if not chunk:
                break
            h.update(chunk)
            total += len(chunk)
    finally:
        conn.close()
    assert total == 64 * 1024 * 1024
    assert h.hexdigest() == download_sha(64)


def pipelined(apache, first: str):
    """`first`, then GET /d/info on the same connection."""
    data = (f"GET {first} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            "GET /d/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").encode()
    return apache.raw_all(data, timeout=15)


@pytest.mark.log_ids(*harness.ids("bad_response", "content_length_exceeded"))
def test_bogus_content_length_cannot_smuggle(apache):
    rs = pipelined(apache, "/d/bogus-cl")
    assert rs and rs[0].status == 200 and rs[0].body == b"hello", rs
    for r in rs:
        assert b"X-Smuggled" not in r.data.split(b"\r\n\r\n", 1)[0], r.data[:300]
    # Either the connection was closed after the cut response, or the next response on it
    # is the real one.
    assert len(rs) in (1, 2), rs
    if len(rs) == 2:
        assert rs[1].status == 200 and b'"pid"' in rs[1].body, rs[1].data[:300]
    assert apache.get("/d/info").status == 200


@pytest.mark.log_ids(*harness.ids("bad_response"))
@pytest.mark.gantry_only  # mod_wsgi 4.9.4 passes it through: the smuggled response arrives
def test_app_transfer_encoding_cannot_smuggle(apache):
    rs = pipelined(apache, "/d/bogus-te")
    assert rs and rs[0].status == 500, rs
    assert all(b"X-Smuggled" not in r.data for r in rs)
    if len(rs) == 2:
        assert rs[1].status == 200 and b'"pid"' in rs[1].body, rs[1].data[:300]
    assert apache.get("/d/info").status == 200


@pytest.mark.gantry_only_in_daemon("it turns Location with status 200 into an internal"
                                   " redirect")
def test_location_with_200_is_not_an_internal_redirect(apache):
    r = apache.get("/d/location-200")
    assert r.status == 200
    assert r.body == b"original body"
    assert r.header("Location") == "/elsewhere"


def test_content_type_does_not_choose_a_handler(apache):
    r = apache.get("/d/handler-type")
    assert r.status == 200
    assert r.body == b"just bytes"
    assert r.header("Content-Type") == "application/x-httpd-cgi"


RST_CONFIG = """
@ACCESS_LOG@
WSGIDaemonProcess rst processes=1 threads=2 response-socket-timeout=1
WSGIScriptAlias /r @APPS@/daemon.wsgi process-group=rst application-group=%{GLOBAL}
"""
rst = harness.server(RST_CONFIG)


@pytest.mark.log_ids(*harness.ids("client_gone"))
def test_response_socket_timeout_gives_up_on_a_client_that_does_not_read(rst):
    """A client that stops reading a large daemon response is dropped after
    response-socket-timeout (1 s here, Apache's Timeout is 20 s): the rest of the 64 MiB is
    never sent, and the group serves the next request."""
    import socket
    served = len(rst.access_statuses("/r/download"))
    with socket.create_connection(("127.0.0.1", rst.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /r/download?mb=64 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        # Not reading until Apache has given up on this request (its access log line), which
        # must be well before Apache's own Timeout (20 s).
        rst.wait_for_access("/r/download", count=served + 1, timeout=12)
        received = 0
        while True:
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += len(chunk)
    assert received < 64 * 1024 * 1024, received
    assert rst.get("/r/info").json()["process_group"] == "rst"
