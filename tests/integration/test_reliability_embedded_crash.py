"""Reliability checklist R23: in embedded mode an application crashes its Apache child
(a real SIGSEGV: ctypes reads address 0). Only that child dies: a request held on another
child completes, new requests are served, Apache's parent replaces the child (the MPM's
spare-server rule), and a daemon group of the same server never notices (same process,
still serving).

The harness fails any test whose server logs a child crash; this one is marked
allow_child_crash(count=1), so exactly one crash line may appear during it (conftest.py).

Each MPM runs two children here so that another child exists to keep serving: prefork's
children serve one request each, and under the event MPM a crash takes the child's other
threads with it (they share the process), so the held request is kept off the crashing child
(the app refuses to crash on the held request's process: `/crash?spare=PID`)."""
import time

import pytest

import apache_children
import harness
import reliability_clients as clients

CONFIG = """
WSGIDaemonProcess bystander processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /emb @APPS@/reliability.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dmn @APPS@/reliability.wsgi process-group=bystander application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
<IfModule mpm_event_module>
StartServers 2
MinSpareThreads 9
MaxSpareThreads 24
MaxRequestWorkers 16
</IfModule>
<IfModule mpm_prefork_module>
StartServers 3
MinSpareServers 2
MaxSpareServers 4
</IfModule>
"""
apache = harness.server(CONFIG)

CRASH_ATTEMPTS = 20


def crash_a_child(apache, spare_pid):
    """GET /emb/crash until a child other than `spare_pid` took it and died: the connection
    ends without a response. Returns how many tries it took."""
    for attempt in range(1, CRASH_ATTEMPTS + 1):
        r = apache.raw(f"GET /emb/crash?spare={spare_pid} HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n".encode(), timeout=harness.REQUEST_TIMEOUT)
        if r.status is None:
            assert r.closed, "the crashing request neither answered nor closed"
            return attempt
        assert r.status == 409, (r.status, r.body)  # the held request's child: not this one
    raise AssertionError(f"/emb/crash reached only the spared child in {CRASH_ATTEMPTS} tries")


@pytest.mark.allow_child_crash(count=1)
def test_a_crashing_child_takes_down_only_itself(apache):
    children = apache_children.wait_started(apache)
    bystander = apache.get_json("/dmn/info")["pid"]
    # A request held on one child while another one crashes.
    mark, release = apache.new_mark(), apache.new_mark()
    held = clients.Request(apache, f"/emb/hold?mark={mark}&release={release}")
    apache.wait_for_mark(mark)
    held_pid = int((apache.state / mark).read_text())
    offset = apache.log_size()
    try:
        crash_a_child(apache, held_pid)
        line = apache.wait_for_line(lambda ln: harness.CHILD_CRASH.search(ln.raw),
                                    since=offset, timeout=harness.REQUEST_TIMEOUT,
                                    what="the parent's line for the crashed child")
        crashed = int(harness.CHILD_CRASH.search(line.raw).group(1))
        assert "Segmentation fault" in line.raw, line.raw
        assert crashed in children and crashed != held_pid, (crashed, children, held_pid)
        # Served meanwhile, by a child that is not the dead one.
        assert apache.get_json("/emb/info")["pid"] != crashed
    finally:
        (apache.state / release).touch()
    held.wait(timeout=harness.REQUEST_TIMEOUT)
    assert held.status == 200 and held.json()["pid"] == held_pid, (held.status, held.body)
    # The parent brings the MPM back to its spare-server rule with a new child.
    deadline = time.monotonic() + harness.REQUEST_TIMEOUT
    while not (set(apache_children.mpm_children(apache)) - set(children)):
        assert time.monotonic() < deadline, "the parent did not replace the crashed child"
        time.sleep(0.05)
    assert crashed not in apache_children.mpm_children(apache)
    # The daemon group never noticed.
    assert apache.get_json("/dmn/info")["pid"] == bystander
    assert len(apache.child_crashes(offset)) == 1
