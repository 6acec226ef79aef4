"""A daemon group whose python-home does not exist (reliability checklist R19): its
processes cannot start Python. Each attempt is one error naming the path, the parent backs
off instead of respawning in a loop, and every other group - and Apache - keeps serving."""
import datetime
import time

import pytest

import harness

CONFIG = """
WSGIDaemonProcess badhome processes=1 threads=1 python-home=/nonexistent/gantry-venv socket-timeout=3 display-name=%{GROUP}
WSGIDaemonProcess good processes=1 threads=1 display-name=%{GROUP}
WSGIScriptAlias /bad @APPS@/daemon.wsgi process-group=badhome application-group=%{GLOBAL}
WSGIScriptAlias /good @APPS@/daemon.wsgi process-group=good application-group=%{GLOBAL}
"""
apache = harness.server(CONFIG)

# Python's start-up failure, the daemon's exit, the parent's record of it, and the Apache
# child's answer for a request that found no process to take it.
IDS = ("GANTRY0100", "GANTRY0202", "GANTRY0065", "GANTRY0071", "GANTRY0072", "GANTRY0073",
       "GANTRY0077", "GANTRY0013",
       # the group's template cannot start Python either: it exits and is retried with its
       # own back-off, while processes start through the spawner (docs/template.md)
       "GANTRY0661", "GANTRY0662", "GANTRY0669")
pytestmark = pytest.mark.log_ids(*IDS)


def attempt_times(apache) -> list[datetime.datetime]:
    """When each failed start of a daemon process was logged (one GANTRY0202 per process that
    could not start; the template's own failures and back-off are its own)."""
    return [datetime.datetime.strptime(ln.raw[1:ln.raw.index("]")], "%a %b %d %H:%M:%S.%f %Y")
            for ln in apache.log_lines(0)
            if ln.gantry_id == "GANTRY0202" and "the template of" not in ln.raw]


def test_failure_names_the_path_and_the_group_backs_off(apache):
    line = apache.wait_for_line(lambda ln: ln.gantry_id in ("GANTRY0100", "GANTRY0202")
                                and ln.severity <= 3, since=0, what="Python start-up failure")
    assert "/nonexistent/gantry-venv" in apache.log_text(0), line.raw
    # Back-off, not a respawn loop: the waits between attempts grow (1 s, 2 s, ... 30 s).
    deadline = time.monotonic() + 30
    while len(attempt_times(apache)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    times = attempt_times(apache)
    assert len(times) >= 3, apache.log_text(0)
    first, second = (times[1] - times[0]).total_seconds(), (times[2] - times[1]).total_seconds()
    assert first >= 0.5 and second > first, times


def test_other_groups_keep_serving(apache):
    for _ in range(3):
        r = apache.get("/good/info")
        assert r.status == 200 and r.json()["process_group"] == "good"


def test_a_request_for_the_broken_group_gets_an_error_not_a_hang(apache):
    started = time.monotonic()
    r = apache.get("/bad/info")
    assert r.status in (500, 502, 503, 504), r.text
    assert time.monotonic() - started < 3 + 5  # socket-timeout=3, with room for a slow machine
