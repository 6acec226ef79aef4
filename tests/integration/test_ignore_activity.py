"""WSGIIgnoreActivity: requests where it is On (health checks, monitoring scrapes) do not
count as activity for a daemon group's inactivity-timeout, so a process that gets only those
still goes idle and is recycled; requests elsewhere keep it alive, as before."""
import time

import pytest

import harness

TIMEOUT = 2  # inactivity-timeout, seconds
CONFIG = f"""
WSGIDaemonProcess idle processes=1 threads=2 inactivity-timeout={TIMEOUT}
WSGIScriptAlias /app @APPS@/python_flags.wsgi process-group=idle
WSGIScriptAlias /health @APPS@/python_flags.wsgi process-group=idle
<Location /health>
  WSGIIgnoreActivity On
</Location>
"""
apache = harness.server(CONFIG)


def pid_of(apache, url):
    r = apache.get(url)
    assert r.status == 200, r.text
    return r.json()["pid"]


def test_ignored_requests_let_the_process_go_idle(apache):
    first = pid_of(apache, "/app")  # real activity arms the idle countdown
    deadline = time.monotonic() + 5 * TIMEOUT
    while time.monotonic() < deadline:
        if pid_of(apache, "/health") != first:
            return  # recycled while only ignored requests arrived
        time.sleep(0.25)  # a health check's pace
    pytest.fail(f"process {first} was still serving after {5 * TIMEOUT} s of ignored requests")


def test_counted_requests_keep_the_process(apache):
    first = pid_of(apache, "/app")
    end = time.monotonic() + 2 * TIMEOUT
    while time.monotonic() < end:
        assert pid_of(apache, "/app") == first
        time.sleep(0.25)
