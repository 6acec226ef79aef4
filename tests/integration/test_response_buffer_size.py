"""WSGIDaemonProcess response-buffer-size=: at most that many bytes of a daemon's response
are passed on to Apache's output filters without a flush. Seen through mod_deflate: each
flush that reaches it ends a deflate block with a sync marker (00 00 ff ff), so the markers
in the gzip body count the flushes. A 512 KiB list response (which asks for no flush)
through a group with the default 64 KiB gets one per 64 KiB, like mod_wsgi 4.9.4; through a
group with 8M (mod_wsgi 6.0.2's default) it gets none - mod_wsgi 4.9.4 also flushes whenever
its daemon socket runs dry (gantry_only: Gantry never does, which is what 6.0.2 changed)."""
import pytest

import harness

CONFIG = """
SetOutputFilter DEFLATE
WSGIDaemonProcess small processes=1 threads=2 response-buffer-size=65536
WSGIDaemonProcess large processes=1 threads=2 response-buffer-size=8388608
WSGIScriptAlias /small @APPS@/blocks.wsgi process-group=small
WSGIScriptAlias /large @APPS@/blocks.wsgi process-group=large
"""
apache = harness.server(CONFIG, extra_modules=["deflate"])

BODY = 128 * 4096  # /blocks.wsgi's 128 blocks of 4 KiB


def flushes(apache, url):
    r = apache.request("GET", url + "?count=128&size=4096", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and r.header("Content-Encoding") == "gzip", (r.status, r.headers)
    return r.body.count(b"\x00\x00\xff\xff")


def test_default_flushes_every_64k(apache):
    assert flushes(apache, "/small") >= BODY // 65536 - 1


@pytest.mark.gantry_only
def test_large_buffer_does_not_flush(apache):
    assert flushes(apache, "/large") == 0
