"""An Apache child trusts no daemon with its descriptors (issue 12): a hostile application
in group `hostile` writes frames to its own daemon connection that carry file descriptors
(SCM_RIGHTS) the Apache child never asked for - thousands of them, one per message or a
hundred at once. The Apache child takes in at most a couple, closes them, ends that request
with one error line naming the group (502: no headers were sent), and keeps serving the
other group's requests meanwhile - on the same child: under prefork this server has only
one, under the event MPM its threads are busy with both requests at once."""
import json
import os
import threading
import time
import uuid

import pytest

import apache_children
import harness

CONFIG = """
<IfModule mpm_prefork_module>
  StartServers 1
  MinSpareServers 1
  MaxSpareServers 1
  ServerLimit 1
  MaxRequestWorkers 1
</IfModule>
<IfModule mpm_event_module>
  ServerLimit 1
</IfModule>
WSGIDaemonProcess hostile processes=1 threads=1 display-name=%{GROUP}
WSGIDaemonProcess other processes=1 threads=2 display-name=%{GROUP}
SetEnv GANTRY_STATE @STATE@
WSGIScriptAlias /hostile @APPS@/hostile_fds.wsgi process-group=hostile application-group=%{GLOBAL}
WSGIScriptAlias /other @APPS@/hostile_fds.wsgi process-group=other application-group=%{GLOBAL}
"""
apache = harness.server(CONFIG)
pytestmark = pytest.mark.gantry_only("Gantry's own protocol; mod_wsgi's daemons are trusted")


def open_fds(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            pass
    return total


def wait_for_file(path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)
    return json.loads(path.read_text())


@pytest.mark.log_ids("GANTRY0520")
@pytest.mark.parametrize("count,per", [(3000, 1), (100, 100)])
def test_descriptors_from_a_hostile_daemon_are_closed_and_the_child_serves_on(apache, count, per):
    children = apache_children.wait_started(apache)
    assert apache.get("/other/info").status == 200
    assert apache.get("/hostile/info").status == 200  # both groups up before the baseline
    baseline = open_fds(children)
    token = uuid.uuid4().hex
    offset = apache.log_size()
    result = {}

    def hostile_request():
        started = time.monotonic()
        result["response"] = apache.get(f"/hostile/flood?n={count}&per={per}&token={token}")
        result["at"] = time.monotonic() - started

    thread = threading.Thread(target=hostile_request)
    thread.start()
    try:
        # The application has passed every descriptor it could (the flood ends when the
        # Apache child hangs up on it, or after `count` messages without the defence) and
        # now holds its request open.
        flood = wait_for_file(apache.state / f"flood-{token}.json")
        assert flood["stopped"] or flood["sent"] == count
        during = open_fds(children)
        # The other group, meanwhile, on the same Apache child.
        other = apache.get("/other/info")
        assert other.status == 200 and json.loads(other.body)["group"] == "other"
        # The hostile request was ended without waiting for the application.
        thread.join(timeout=harness.REQUEST_TIMEOUT)
        assert not thread.is_alive(), "the hostile request is still open"
    finally:
        (apache.state / f"release-{token}").write_text("")
        thread.join()
    assert during < baseline + 20, (baseline, during, flood)
    r = result["response"]
    assert r.status == 502, (r.status, r.body[:200])
    lines = [ln for ln in apache.log_lines(offset) if ln.gantry_id == "GANTRY0520"]
    assert len(lines) == 1, [ln.raw for ln in lines]
    assert "'hostile'" in lines[0].message and "/hostile/flood" in lines[0].message, lines[0].raw
    # Nothing of the flood was left behind in the Apache child, and both groups serve.
    assert open_fds(children) < baseline + 20
    assert apache.get("/other/info").status == 200
    deadline = time.monotonic() + harness.REQUEST_TIMEOUT
    while apache.get("/hostile/info").status != 200:  # its one thread finishes the flood first
        assert time.monotonic() < deadline
