"""Apache's graceful restart with daemon mode (issues 3 and 4): the old generation's daemon
processes finish the requests they have (bounded by graceful-timeout) while the new
generation's processes take every new request - a client sending requests throughout sees
no failure, and the request in flight is answered by the process that started it. Both
MPMs: the old Apache children, which finish their requests, are the MPM's."""
import re
import threading

import pytest

import harness
from lifecycle_load import run_load

pytestmark = pytest.mark.gantry_only  # Gantry's log ids

apache = harness.server("""
WSGIDaemonProcess g processes=1 threads=4 graceful-timeout=10
WSGIScriptAlias /g @APPS@/lifecycle.wsgi process-group=g application-group=%{GLOBAL}
""")


def test_graceful_restart_drains_daemons_without_failing_a_request(apache):
    old_pid = apache.get("/g/pid").json()["pid"]
    since = apache.log_size()
    slow = {}
    done = threading.Event()

    def slow_request():
        slow["r"] = apache.get("/g/sleep?s=5")
        done.set()

    t = threading.Thread(target=slow_request, daemon=True)
    t.start()
    restarted = threading.Event()

    def restart():
        import time
        time.sleep(1)
        apache.graceful()
        restarted.set()

    threading.Thread(target=restart, daemon=True).start()
    result = run_load(apache.port, "/g/pid", threads=2, keep_alive=False,
                      until=lambda r: done.is_set() and restarted.is_set() and len(r.pids) >= 2,
                      max_seconds=30)
    t.join(20)
    print(f"\n{apache.mpm} graceful: {result.summary()}")
    assert result.failures == 0, result.summary()
    assert slow["r"].status == 200
    assert slow["r"].json()["pid"] == old_pid  # finished where it started, not cut off
    assert len(result.pids - {old_pid}) >= 1  # the new generation served
    text = apache.wait_for_log(
        rf"GANTRY0204: daemon process exiting: group g, pid {old_pid}, drained after Apache's"
        r" graceful restart", since)
    line = re.search(rf"GANTRY0204: [^\n]*pid {old_pid},[^\n]*", text).group(0)
    assert "cut off" not in line
    # After the restart only the new generation answers.
    for _ in range(3):
        assert apache.get("/g/pid").json()["pid"] != old_pid
