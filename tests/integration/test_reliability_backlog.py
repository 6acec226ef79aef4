"""Reliability checklist R10: a daemon group's listen backlog overflows.

Group `narrow` has one thread and listen-backlog=1: one request runs, the kernel queues
backlog + 1 = 2 more connections on the group's socket (a listening UNIX socket refuses a
connection once more than `backlog` wait), and every further Apache child finds the socket
full. Such a request waits in its connect loop for connect-timeout= (2 s here) and then gets
a clean 503 with one error line naming the group and the option to raise - as mod_wsgi
does; nothing hangs, nothing crashes, another group serves all along, and once the held
requests end the group serves again with the same process (no restart).

Scaled from the checklist's 200 requests on a backlog of 8: what overflows is the same
kernel limit whatever the numbers, and 5 requests keep it inside the small Apaches the tests
run (8 event workers; prefork raised to 10 children here so the other group has some).
"""

import pytest

import daemon_procs
import harness
import reliability_clients as clients

CONFIG = """
WSGIDaemonProcess narrow processes=1 threads=1 listen-backlog=1 connect-timeout=2 display-name=%{GROUP}
WSGIDaemonProcess other processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /narrow @APPS@/reliability.wsgi process-group=narrow application-group=%{GLOBAL}
WSGIScriptAlias /other @APPS@/reliability.wsgi process-group=other application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
<IfModule mpm_prefork_module>
StartServers 10
MinSpareServers 10
ServerLimit 10
MaxRequestWorkers 10
</IfModule>
"""
apache = harness.server(CONFIG)

THREADS = 1
BACKLOG = 1
CONNECT_TIMEOUT = 2.0
# What the group can hold at once: its threads, and backlog + 1 waiting connections.
CAPACITY = THREADS + BACKLOG + 1
OVERFLOW = 2


@pytest.mark.log_ids("GANTRY0071")
def test_backlog_overflow_is_a_clean_503_and_the_group_recovers(apache):
    narrow_pid = apache.get_json("/narrow/info")["pid"]
    release = apache.new_mark()
    offset = apache.log_size()
    # The first request takes the group's only thread (its mark says it runs), so the
    # rest can only queue on the socket or overflow it.
    first = apache.new_mark()
    held = [clients.Request(apache, f"/narrow/hold?mark={first}&release={release}")]
    apache.wait_for_mark(first)
    rest = [clients.Request(apache, f"/narrow/hold?mark={apache.new_mark()}&release={release}")
            for _ in range(CAPACITY - 1 + OVERFLOW)]
    try:
        # The overflowing ones come back on their own, after connect-timeout, while the
        # others are still held.
        refused = clients.wait_finished(rest, OVERFLOW, timeout=CONNECT_TIMEOUT + 15)
        for r in refused:
            assert r.status == 503, (r.status, r.body)
            assert CONNECT_TIMEOUT - 0.5 <= r.elapsed < CONNECT_TIMEOUT + 10, r.elapsed
            # Apache's page (security checklist S18): nothing of the socket path or group.
            assert b"narrow" not in r.body and b".sock" not in r.body, r.body
        if harness.IS_GANTRY:
            lines = [ln for ln in apache.log_lines(offset) if ln.gantry_id == "GANTRY0071"]
            assert len(lines) == OVERFLOW, [ln.raw for ln in lines]
            for ln in lines:
                assert "'narrow'" in ln.message and "listen-backlog=" in ln.message, ln.raw
        # Another group is not affected while this one is full.
        assert apache.get_json("/other/info")["process_group"] == "other"
        assert sum(r.done() for r in held + rest) == OVERFLOW
    finally:
        (apache.state / release).touch()
    # The held ones are served once the thread frees up, by the same process.
    for r in held + rest:
        r.wait(timeout=harness.REQUEST_TIMEOUT)
    served = [r for r in held + rest if r.status != 503]
    assert len(served) == CAPACITY, [(r.status, r.elapsed) for r in held + rest]
    for r in served:
        assert r.status == 200 and r.json()["pid"] == narrow_pid, (r.status, r.body)
    again = apache.get_json("/narrow/info")
    assert again["pid"] == narrow_pid
    assert daemon_procs.group_pids(apache, "narrow") == [narrow_pid]
