"""Text written to the log streams without a newline is not held without bound (issue 12):
100 MiB written to wsgi.errors in 1 MiB pieces, no newline anywhere, reach the error log
in pieces as they come, all of it, while the daemon process's peak memory stays where it
was (before: the stream held the whole 100 MiB as one pending line)."""
import re

import pytest

import harness

CONFIG = """
WSGIDaemonProcess flood processes=1 threads=1 display-name=%{GROUP}
WSGIScriptAlias /flood @APPS@/log_flood.wsgi process-group=flood application-group=%{GLOBAL}
"""
apache = harness.server(CONFIG)
MIB = 100


@pytest.mark.log_ids(*harness.ids("app_output"))
def test_100_mib_without_newline_is_logged_in_pieces_with_bounded_memory(apache):
    apache.get("/flood?mb=1")  # the process and its interpreter are up: its baseline
    offset = apache.log_size()
    conn = apache.connection(timeout=300)  # 100 MiB of log lines take a while on a busy machine
    try:
        r = apache.get(f"/flood?mb={MIB}", conn=conn)
    finally:
        conn.close()
    assert r.status == 200, r.text
    pid, before, after = (int(v) for v in r.text.split())
    # The application's own 1 MiB string and the log pipeline's buffers, not 100 MiB.
    assert after - before < 16 * 1024, (before, after)
    # All of it arrived, in pieces none of which Apache had to cut.
    logged = 0
    longest = 0
    with open(apache.error_log, "rb") as log:
        log.seek(offset)
        for line in log:
            m = re.search(rb"GANTRY0112: (x+)$", line.rstrip(b"\n"))
            if m:
                logged += len(m.group(1))
                longest = max(longest, len(line))
    assert logged == MIB * 1024 * 1024, logged
    assert longest < 8192, longest
