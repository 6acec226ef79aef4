"""WSGIEnableSendfile: a wsgi.file_wrapper response goes out with sendfile() only where the
directive is On. Off - the default, as in mod_wsgi, because sendfile() is unreliable on NFS,
FUSE and some overlay file systems - the file is still served whole, by Apache reading it.

Seen from outside: strace counts the sendfile() calls of every process the Apache has while
the requests run. mod_wsgi 4.9.4 makes the same calls embedded; in daemon mode it copies the
file through its socket (never sendfile), where Gantry passes the descriptor to the Apache
child, so On means sendfile there too (gantry_only_in_daemon)."""
import os
import time

import pytest

import harness
import syscall_trace

CONFIG = """
WSGIScriptAlias /on @APPS@/response.wsgi
WSGIScriptAlias /off @APPS@/response.wsgi
WSGIScriptAlias /default @APPS@/response.wsgi
<Location /on>
  WSGIEnableSendfile On
</Location>
<Location /off>
  WSGIEnableSendfile Off
</Location>
"""
apache = harness.server(CONFIG)

DATA = os.urandom(1 << 20)


@pytest.fixture(scope="module")
def big_file(apache):
    path = apache.root / "big.bin"
    path.write_bytes(DATA)
    return path


def sendfile_calls(apache, url: str, requests: int = 3) -> int:
    """sendfile() calls made by all of the Apache's processes while `url` is fetched."""
    apache.get("/default/file-wrapper?path=/dev/null")  # every process up and serving
    pids = sorted(harness._children_of(apache.pid))
    out = apache.root / f"strace-{time.monotonic_ns()}.out"
    with syscall_trace.tracing(pids, "sendfile", out):
        for _ in range(requests):
            r = apache.get(url, conn=None)
            assert r.status == 200 and r.body == DATA, (r.status, len(r.body))
    return out.read_text().count("sendfile(") if out.exists() else 0


def test_off_by_default(apache, big_file):
    assert sendfile_calls(apache, f"/default/file-wrapper?path={big_file}") == 0


def test_off(apache, big_file):
    assert sendfile_calls(apache, f"/off/file-wrapper?path={big_file}") == 0


@pytest.mark.gantry_only_in_daemon("mod_wsgi's daemon copies the file through its socket")
def test_on_uses_sendfile(apache, big_file):
    assert sendfile_calls(apache, f"/on/file-wrapper?path={big_file}") >= 3
