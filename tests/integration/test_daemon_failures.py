"""Daemon mode when things go wrong (issue 3): every failure ends in a status and one
error line from the Apache child that names the group, the daemon process, the cause, the
URL and the elapsed time; nothing hangs; the group recovers.

- socket gone (the file removed)          -> 503 after connect-timeout (GANTRY0071)
- daemon stopped (SIGSTOP), no headers    -> 504 after socket-timeout (GANTRY0073)
- request queued past queue-timeout       -> 504, app not run (GANTRY0220)
- app calls os._exit / SIGKILLs itself    -> 502 (GANTRY0072, exit status / signal), the
  process is replaced and the next request is served
- kill -9 of an idle daemon process       -> replaced, next request served
- response header over header-buffer-size -> 500 naming the header and the option (0074)
- response headers together over the protocol's frame limit -> 500, in the access log too
- a daemon process out of descriptors says so (0525) and serves again once it has some

Gantry answers 502 (Bad Gateway) when the daemon dies before sending headers, as a reverse
proxy does for a backend that failed: the request did reach a server process, which broke.
mod_wsgi 4.9 answers 500 there; the GANTRY ids and messages are Gantry's, so the checks of
the log lines are gantry_only."""
import re
import signal
import threading
import time
import uuid

import pytest

import daemon_procs
import harness

CONFIG = """
WSGIDaemonProcess crash processes=1 threads=4 display-name=%{GROUP}
WSGIDaemonProcess slow processes=1 threads=2 socket-timeout=2 display-name=%{GROUP}
WSGIDaemonProcess queue processes=1 threads=1 queue-timeout=1 display-name=%{GROUP}
WSGIDaemonProcess gone processes=1 threads=1 connect-timeout=1 display-name=%{GROUP}
WSGIDaemonProcess hdr processes=1 threads=2 header-buffer-size=8192 display-name=%{GROUP}
WSGIDaemonProcess fdlimit processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /crash @APPS@/daemon.wsgi process-group=crash application-group=%{GLOBAL}
WSGIScriptAlias /slow @APPS@/daemon.wsgi process-group=slow application-group=%{GLOBAL}
WSGIScriptAlias /queue @APPS@/daemon.wsgi process-group=queue application-group=%{GLOBAL}
WSGIScriptAlias /gone @APPS@/daemon.wsgi process-group=gone application-group=%{GLOBAL}
WSGIScriptAlias /hdr @APPS@/daemon.wsgi process-group=hdr application-group=%{GLOBAL}
WSGIScriptAlias /fdlimit @APPS@/daemon.wsgi process-group=fdlimit application-group=%{GLOBAL}
@ACCESS_LOG@
SetEnv GANTRY_STATE @STATE@
"""
apache = harness.server(CONFIG)

DIED = ("GANTRY0065", "GANTRY0072")


def info(apache, prefix):
    r = apache.get(f"{prefix}/info")
    assert r.status == 200, (prefix, r.status, r.text)
    return r.json()


def error_line(apache, offset, url, gantry_id):
    """The Apache child's error line for `url`; with Gantry, the one with `gantry_id`.
    (mod_wsgi's lines name the script file, not the URL: any error line will do.)"""
    def match(ln):
        if ln.severity > 3:
            return False
        return ln.gantry_id == gantry_id and url in ln.message if harness.IS_GANTRY else True
    return apache.wait_for_line(match, since=offset, what=f"error line for {url}")


def check_names(line, group, pid=None, cause=None):
    """The line names the group, the process, the cause and the elapsed time."""
    if not harness.IS_GANTRY:
        return
    assert f"'{group}'" in line.message, line.raw
    if pid is not None:
        assert f"pid {pid}" in line.message, line.raw
    if cause:
        assert re.search(cause, line.message), line.raw
    assert re.search(r"after \d+\.\d\d s", line.message), line.raw


@pytest.mark.log_ids(*DIED)
@pytest.mark.parametrize("how,cause", [
    ("exit", r"exited with status 3"),
    ("kill9", r"killed by SIGKILL"),
])
def test_daemon_dying_before_headers_is_502_and_replaced(apache, how, cause):
    before = info(apache, "/crash")["pid"]
    offset = apache.log_size()
    started = time.monotonic()
    r = apache.get(f"/crash/{how}")
    assert r.status == (502 if harness.IS_GANTRY else 500), r.text
    assert time.monotonic() - started < harness.REQUEST_TIMEOUT
    line = error_line(apache, offset, f"/crash/{how}", "GANTRY0072")
    check_names(line, "crash", before, cause)
    if harness.IS_GANTRY:
        # The parent's line too: an exit status is never reported as the signal of that
        # number (the MPM passes both as a bare 3; os._exit(3) is not SIGQUIT).
        died = apache.wait_for_line(
            lambda ln: ln.gantry_id == "GANTRY0065" and f"(pid {before})" in ln.message,
            since=offset, what="GANTRY0065 for the dead process")
        assert re.search(cause, died.message), died.raw
        if how == "exit":
            assert "SIGQUIT" not in died.message and "signal" not in died.message, died.raw
    # Other groups never noticed; the Apache child that answered is still serving.
    assert info(apache, "/hdr")["process_group"] == "hdr"
    # The process is replaced, and the replacement serves.
    after = info(apache, "/crash")
    assert after["pid"] != before and after["process_group"] == "crash"
    assert daemon_procs.cmdline(after["pid"]).startswith("(wsgi:crash)")


@pytest.mark.log_ids(*DIED)
@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_daemon_killed_after_headers_never_looks_complete(apache, framing):
    """Reliability checklist R2: a daemon killed in the middle of a response. The status
    and the first block went out; the client must never see a well-formed, complete
    response (no last chunk; a Content-Length body short), and the connection closes."""
    before = info(apache, "/crash")["pid"]
    offset = apache.log_size()
    query = "?cl=1000" if framing == "content-length" else ""
    r = apache.raw(b"GET /crash/kill9-midstream%s HTTP/1.1\r\nHost: x\r\n\r\n" % query.encode(),
                   timeout=harness.REQUEST_TIMEOUT)
    assert r.status == 200, r.data[:300]
    assert r.body.startswith(b"first block;") and b"never sent" not in r.body
    assert not r.complete, "a response cut by a dead daemon must not look complete"
    assert r.closed, "the connection must be closed after a cut response"
    if framing == "chunked":
        assert r.header("Transfer-Encoding") == "chunked"
    line = error_line(apache, offset, "/crash/kill9-midstream", "GANTRY0072")
    check_names(line, "crash", before, r"killed by SIGKILL")
    assert info(apache, "/crash")["pid"] != before


@pytest.mark.log_ids(*DIED)
def test_kill_9_of_an_idle_daemon_replaces_it(apache):
    before = info(apache, "/crash")["pid"]
    daemon_procs.wait_group(apache, "crash", 1)
    import os
    os.kill(before, signal.SIGKILL)
    # The next request waits in the group's backlog for the replacement.
    after = info(apache, "/crash")
    assert after["pid"] != before
    assert daemon_procs.wait_group(apache, "crash", 1, exclude=(before,)) == [after["pid"]]


@pytest.mark.log_ids("GANTRY0073")
def test_no_headers_within_socket_timeout_is_504(apache):
    pid = info(apache, "/slow")["pid"]
    offset = apache.log_size()
    r = apache.get("/slow/sleep?s=4")
    assert r.status == 504, r.text
    line = error_line(apache, offset, "/slow/sleep", "GANTRY0073")
    check_names(line, "slow", pid, r"socket-timeout=2 s")
    assert info(apache, "/slow")["pid"] == pid  # nothing died


@pytest.mark.log_ids("GANTRY0220")
def test_queued_past_queue_timeout_is_504(apache):
    pid = info(apache, "/queue")["pid"]
    mark = apache.new_mark()
    busy = threading.Thread(target=lambda: apache.get(f"/queue/sleep?s=2.5&mark={mark}"))
    busy.start()
    try:
        apache.wait_for_mark(mark)  # the only thread is now busy
        offset = apache.log_size()
        r = apache.get("/queue/info")
    finally:
        busy.join()
    assert r.status == 504, r.text
    assert b'"pid"' not in r.body  # the application did not run
    line = error_line(apache, offset, "/queue/info", "GANTRY0220")
    check_names(line, "queue", pid, r"queue-timeout=1 s")
    assert info(apache, "/queue")["pid"] == pid


@pytest.mark.log_ids("GANTRY0071")
@pytest.mark.gantry_only  # finds the socket by Gantry's start-up line
def test_socket_missing_is_503_after_connect_timeout(apache):
    text = apache.wait_for_log(r"GANTRY0063: daemon group 'gone'.*listening on \S+")
    path = re.findall(r"GANTRY0063: daemon group 'gone'.*listening on (\S+)", text)[-1]
    import os
    os.unlink(path)
    offset = apache.log_size()
    started = time.monotonic()
    r = apache.get("/gone/info")
    elapsed = time.monotonic() - started
    assert r.status == 503, r.text
    assert elapsed < harness.REQUEST_TIMEOUT
    line = error_line(apache, offset, "/gone/info", "GANTRY0071")
    check_names(line, "gone", cause=r"No such file or directory")
    assert path in line.message


@pytest.mark.log_ids("GANTRY0073")
@pytest.mark.gantry_only
def test_stopped_daemon_is_504_naming_its_state(apache):
    pid = info(apache, "/slow")["pid"]
    import os
    os.kill(pid, signal.SIGSTOP)
    try:
        offset = apache.log_size()
        r = apache.get("/slow/info")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.status == 504
    line = error_line(apache, offset, "/slow/info", "GANTRY0073")
    check_names(line, "slow", pid, r"running for \d+ s")
    assert info(apache, "/slow")["pid"] == pid


@pytest.mark.log_ids("GANTRY0074")
def test_oversized_header_is_500_naming_it(apache):
    offset = apache.log_size()
    r = apache.get("/hdr/bigheader?n=10000")
    assert r.status == 500
    assert r.header("X-Big") is None
    if harness.IS_GANTRY:
        line = error_line(apache, offset, "/hdr/bigheader", "GANTRY0074")
        check_names(line, "hdr")
        assert "X-Big" in line.message and "header-buffer-size=8192" in line.message
    # A header within the limit passes.
    r = apache.get("/hdr/bigheader?n=7000")
    assert r.status == 200 and len(r.header("X-Big")) == 7000


def access_status(apache, url_path):
    """The status the access log recorded for the last request to `url_path`."""
    return apache.wait_for_access(url_path, timeout=5)[-1]


@pytest.mark.gantry_only("mod_wsgi 4.9.4 has no frame limit to exceed")
@pytest.mark.log_ids("GANTRY0118")
def test_headers_over_the_frame_limit_are_500_not_an_empty_200(apache):
    # 1,100 headers of 8,000 bytes: each within header-buffer-size=8192, together over the
    # 8 MiB a RESPONSE_START frame may carry. The daemon cannot send them (GANTRY0118); the
    # client must get a 500 and the access log must say 500, as for any invalid response.
    offset = apache.log_size()
    r = apache.get("/hdr/manyheaders?count=1100&size=8000")
    assert r.status == 500, (r.status, r.body[:200])
    assert r.header("X-Many-0") is None
    assert access_status(apache, "/hdr/manyheaders") == 500
    apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0118", since=offset,
                         what="the daemon's GANTRY0118 line")
    # The group still answers.
    assert apache.get("/hdr/manyheaders?count=2&size=10").status == 200


@pytest.mark.gantry_only("the log line is Gantry's; mod_wsgi says nothing")
@pytest.mark.log_ids("GANTRY0525")
def test_daemon_out_of_descriptors_logs_it_and_recovers(apache):
    pid = info(apache, "/fdlimit")["pid"]
    token = uuid.uuid4().hex
    offset = apache.log_size()
    r = apache.get(f"/fdlimit/exhaust?token={token}")
    assert r.status == 200 and int(r.text) > 0
    full = apache.state / f"full-{token}"
    deadline = time.monotonic() + harness.REQUEST_TIMEOUT
    while not full.exists():  # the descriptor of that request's connection is taken too
        assert time.monotonic() < deadline, "the application never took the last descriptor"
        time.sleep(0.02)
    result = {}
    waiting = threading.Thread(target=lambda: result.setdefault("r", apache.get("/fdlimit/info")))
    waiting.start()
    try:
        # The next connection cannot be accepted: the process says why instead of nothing.
        line = apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0525", since=offset,
                                    timeout=harness.REQUEST_TIMEOUT,
                                    what="the daemon's out-of-descriptors line")
        assert f"group fdlimit, pid {pid}" in line.message, line.raw
        assert "Too many open files" in line.message, line.raw
    finally:
        (apache.state / f"release-{token}").write_text("")
        waiting.join()
    # Once the descriptors are back, the waiting request is served by the same process.
    assert result["r"].status == 200 and result["r"].json()["pid"] == pid
    # Rate-limited: one line for the whole episode, not one per thread and retry.
    assert len([ln for ln in apache.log_lines(offset) if ln.gantry_id == "GANTRY0525"]) == 1
