"""mod_wsgi.subscribe_shutdown() (issue 11): the callback runs once on every orderly exit of a
process - a daemon process recycled by maximum-requests, Apache's graceful restart, Apache
stopping, an embedded Apache child exiting - and never when the process is killed. The app
(apps/shutdown_marker.wsgi) writes <ServerRoot>/state/shutdown-<pid> from its callback."""
import json
import os
import signal
import time

import pytest

import apache_children
import harness

CONFIG = """
WSGIDaemonProcess recycle processes=1 threads=2 maximum-requests=3 display-name=%{GROUP}
WSGIDaemonProcess steady processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /recycle @APPS@/shutdown_marker.wsgi process-group=recycle application-group=%{GLOBAL}
WSGIScriptAlias /steady @APPS@/shutdown_marker.wsgi process-group=steady application-group=%{GLOBAL}
WSGIScriptAlias /embedded @APPS@/shutdown_marker.wsgi application-group=%{GLOBAL}
"""

apache = harness.server(CONFIG)

# A daemon process killed by a signal is logged by the parent (and a request it was serving).
DIED = ("GANTRY0065", "GANTRY0072")


def pid_of(apache, path):
    r = apache.get(path)
    assert r.status == 200, r.text
    return r.json()["pid"]


def marker(apache, pid):
    path = apache.state / f"shutdown-{pid}"
    return json.loads(path.read_text()) if path.exists() else None


def wait_marker(apache, pid, timeout=15.0):
    deadline = time.monotonic() + timeout
    while (found := marker(apache, pid)) is None:
        assert time.monotonic() < deadline, f"no shutdown callback ran in pid {pid}"
        time.sleep(0.05)
    return found


def wait_gone(pid, timeout=15.0):
    deadline = time.monotonic() + timeout
    while harness._proc_start_time(pid) is not None:
        assert time.monotonic() < deadline, f"pid {pid} did not exit"
        time.sleep(0.05)


def test_maximum_requests_recycle_runs_the_callback_once(apache):
    pids = [pid_of(apache, "/recycle") for _ in range(4)]
    first = pids[0]
    assert pids[:3] == [first] * 3 and pids[3] != first, pids
    wait_gone(first)
    found = wait_marker(apache, first)
    assert found["event"] == "process_stopping"
    expected = ["maximum_requests"] if harness.IS_GANTRY else [""]  # 4.9.4 gives no reason
    assert found["reasons"] == expected


@pytest.mark.log_ids(*DIED)
def test_sigkill_does_not_run_the_callback(apache):
    victim = pid_of(apache, "/steady")
    os.kill(victim, signal.SIGKILL)
    wait_gone(victim)
    # The replacement serves (and so the parent has reaped the victim)...
    assert pid_of(apache, "/steady") != victim
    # ...and the killed process never ran its callback.
    assert marker(apache, victim) is None


def test_graceful_restart_runs_the_callback_in_daemons_and_children(apache):
    daemon = pid_of(apache, "/steady")
    child = pid_of(apache, "/embedded")
    apache.graceful()
    wait_gone(daemon)
    wait_gone(child)
    found = wait_marker(apache, daemon)
    assert len(found["reasons"]) == 1
    if harness.IS_GANTRY:
        assert found["reasons"] == ["graceful_signal"]
    assert len(wait_marker(apache, child)["reasons"]) == 1
    # The new generation serves.
    assert pid_of(apache, "/steady") != daemon


def test_stop_runs_the_callback_in_daemons_and_children(mpm):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="shutdown-stop")) as server:
        daemon = pid_of(server, "/steady")
        child = pid_of(server, "/embedded")
        apache_children.wait_started(server)
        server.stop()
        found = wait_marker(server, daemon)
        assert len(found["reasons"]) == 1
        if harness.IS_GANTRY:
            assert found["reasons"] == ["shutdown_signal"]
        assert len(wait_marker(server, child)["reasons"]) == 1
