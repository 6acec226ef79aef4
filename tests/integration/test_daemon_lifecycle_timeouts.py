"""Daemon process timeouts, limits and restart signals (issue 4), one group per option with
small values (1-3 s) so each effect shows quickly.

Event MPM only: everything here happens inside the daemon process (its timers, signals and
rlimits) and the Apache child only forwards; the MPM-dependent side of a recycle (children
connecting while processes are replaced, graceful restarts) runs under both MPMs in
test_daemon_lifecycle.py and test_daemon_lifecycle_graceful.py."""
import os
import re
import signal
import threading
import time

import pytest

import daemon_procs
import harness

pytestmark = pytest.mark.gantry_only  # Gantry's log ids and statuses

APPS = harness.APPS_DIR

apache = harness.server("""
WSGIDaemonProcess idle processes=1 threads=2 inactivity-timeout=2
WSGIDaemonProcess rt processes=2 threads=1 request-timeout=1 shutdown-timeout=1
WSGIDaemonProcess grace processes=1 threads=2 maximum-requests=2 graceful-timeout=1 shutdown-timeout=1
WSGIDaemonProcess evict processes=1 threads=2 eviction-timeout=1 graceful-timeout=30 shutdown-timeout=1
WSGIDaemonProcess sig processes=1 threads=2 graceful-timeout=30
WSGIDaemonProcess lock processes=1 threads=2 deadlock-timeout=1
WSGIDaemonProcess interval processes=1 threads=1 restart-interval=2
WSGIDaemonProcess cpu processes=1 threads=1 cpu-time-limit=3 shutdown-timeout=1
WSGIDaemonProcess limits processes=1 threads=1 memory-limit=300M virtual-memory-limit=1500M cpu-priority=5
WSGIDaemonProcess reload processes=2 threads=1
WSGIDaemonProcess crash processes=1 threads=1
WSGIDaemonProcess intr processes=1 threads=1 request-timeout=1 interrupt-timeout=2 shutdown-timeout=1
WSGIDaemonProcess startup processes=1 threads=2 startup-timeout=2
WSGIDaemonProcess startok processes=1 threads=2 startup-timeout=2
WSGIDaemonProcess stall processes=1 threads=2 inactivity-timeout=2 shutdown-timeout=1
WSGIDaemonProcess stallfirst processes=1 threads=2 inactivity-timeout=2 shutdown-timeout=1 deadlock-timeout=0
WSGIScriptAlias /idle @APPS@/lifecycle.wsgi process-group=idle application-group=%{GLOBAL}
WSGIScriptAlias /rt @APPS@/lifecycle.wsgi process-group=rt application-group=%{GLOBAL}
WSGIScriptAlias /grace @APPS@/lifecycle.wsgi process-group=grace application-group=%{GLOBAL}
WSGIScriptAlias /evict @APPS@/lifecycle.wsgi process-group=evict application-group=%{GLOBAL}
WSGIScriptAlias /sig @APPS@/lifecycle.wsgi process-group=sig application-group=%{GLOBAL}
WSGIScriptAlias /lock @APPS@/lifecycle.wsgi process-group=lock application-group=%{GLOBAL}
WSGIScriptAlias /interval @APPS@/lifecycle.wsgi process-group=interval application-group=%{GLOBAL}
WSGIScriptAlias /cpu @APPS@/lifecycle.wsgi process-group=cpu application-group=%{GLOBAL}
WSGIScriptAlias /limits @APPS@/lifecycle.wsgi process-group=limits application-group=%{GLOBAL}
WSGIScriptAlias /intr @APPS@/lifecycle.wsgi process-group=intr application-group=%{GLOBAL}
WSGIScriptAlias /crash @APPS@/lifecycle.wsgi process-group=crash application-group=%{GLOBAL}
WSGIScriptAlias /reload @APPS@/lifecycle_reload.wsgi process-group=reload application-group=%{GLOBAL}
# No application-group=: the script is loaded at the first request, not preloaded when the
# process starts (a preload that fails would restart the process every 2 s all along).
WSGIScriptAlias /startup @APPS@/startup_flag.wsgi process-group=startup
WSGIScriptAlias /startok @APPS@/lifecycle.wsgi process-group=startok application-group=%{GLOBAL}
WSGIScriptAlias /stall @APPS@/io_pace.wsgi process-group=stall application-group=%{GLOBAL}
WSGIScriptAlias /stallfirst @APPS@/io_pace.wsgi process-group=stallfirst application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
""", files={"apps/lifecycle_reload.wsgi": (APPS / "lifecycle.wsgi").read_text()})


@pytest.fixture(scope="module", params=["event"])
def mpm(request):
    return request.param


def get_json(apache, path):
    r = apache.get(path)
    assert r.status == 200, (path, r.status, r.text)
    return r.json()


def in_thread(fn):
    """Runs fn() in a thread; returns a function that joins it and gives its result."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()), daemon=True)
    t.start()

    def result(timeout=30):
        t.join(timeout)
        assert not t.is_alive(), "request still running"
        return box["r"]
    return result


def log_line(apache, pattern, since=0, timeout=10):
    """The first error-log line (after `since`) matching `pattern`, waiting for it."""
    text = apache.wait_for_log(pattern, since, timeout=timeout)
    return re.search(pattern, text).group(0)


def log_stamp(line):
    """An error-log line's time ("[Thu Dec 03 19:10:25.694461 2026] ...") in seconds."""
    import datetime
    text = re.match(r"\[([^]]+)\]", line).group(1)
    return datetime.datetime.strptime(text, "%a %b %d %H:%M:%S.%f %Y").timestamp()


def exit_line(apache, group, pid, reason, since=0, timeout=10):
    return log_line(
        apache, rf"GANTRY0204: daemon process exiting: group {group}, pid {pid}, [^\n]*{reason}[^\n]*",
        since, timeout)


def test_inactivity_timeout_replaces_an_idle_process_at_its_base_size(apache):
    # inactivity-timeout=2, not 1: on a loaded machine writing 100 MB can take over a second,
    # and a request that long without I/O is itself an inactivity restart (GANTRY0218).
    since = apache.log_size()
    first = get_json(apache, "/idle/grow")  # 100 MB kept by the app
    assert first["rss"] > 100 * 1024 * 1024
    exit_line(apache, "idle", first["pid"], "inactivity-timeout elapsed", since)
    after = get_json(apache, "/idle/pid")
    assert after["pid"] != first["pid"]
    assert after["rss"] < 100 * 1024 * 1024


@pytest.mark.log_ids("GANTRY0212", "GANTRY0072")
def test_request_timeout_restarts_the_stuck_process_only(apache):
    since = apache.log_size()
    before = both_processes(apache, "rt")
    assert len(before) == 2
    stuck = in_thread(lambda: apache.get("/rt/sleep?s=20"))
    r = stuck()
    assert r.status == 502  # the daemon process ended with the request unanswered
    line = log_line(apache, r"GANTRY0212: [^\n]*", since)
    assert "GET /rt/sleep?s=20 (running" in line
    stuck_pid = int(re.search(r"group rt, pid (\d+)", line).group(1))
    assert stuck_pid in before
    exit_line(apache, "rt", stuck_pid, "request-timeout", since)
    # Only the stuck process was restarted: the other one still serves, next to the new one.
    after = both_processes(apache, "rt")
    assert before - {stuck_pid} <= after
    assert stuck_pid not in after


@pytest.mark.log_ids("GANTRY0072")
def test_graceful_then_shutdown_timeout_bound_the_drain(apache):
    # maximum-requests=2: the process stops taking requests when it takes its 2nd; a slow
    # request in flight then gets graceful-timeout (1 s) + shutdown-timeout (1 s) and is
    # cut off, not its 15 s.
    since = apache.log_size()
    mark = apache.new_mark()
    slow = in_thread(lambda: apache.get(f"/grace/sleep?s=15&mark={mark}"))
    apache.wait_for_mark(mark)  # its thread is busy with it now
    quick = get_json(apache, "/grace/pid")
    r = slow()
    assert r.status == 502
    line = exit_line(apache, "grace", quick["pid"], "maximum-requests reached", since)
    assert "cut off: GET /grace/sleep?s=15&mark=" in line
    # A request that ends within graceful-timeout is not cut off.
    first = get_json(apache, "/grace/pid")
    short = apache.get("/grace/sleep?s=0.5")
    assert short.status == 200 and short.json()["pid"] == first["pid"]
    assert "cut off" not in exit_line(apache, "grace", first["pid"], "maximum-requests", since)


@pytest.mark.log_ids("GANTRY0072")
def test_eviction_timeout_bounds_a_sigusr1_restart(apache):
    since = apache.log_size()
    pid = get_json(apache, "/evict/pid")["pid"]
    mark = apache.new_mark()
    slow = in_thread(lambda: apache.get(f"/evict/sleep?s=15&mark={mark}"))
    apache.wait_for_mark(mark)  # its thread is busy with it now
    os.kill(pid, signal.SIGUSR1)
    assert slow().status == 502  # eviction-timeout 1 s + shutdown-timeout 1 s, not 30 s
    line = exit_line(apache, "evict", pid, "SIGUSR1/SIGINT", since)
    assert "cut off: GET /evict/sleep?s=15&mark=" in line
    assert get_json(apache, "/evict/pid")["pid"] != pid


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGINT])
def test_restart_signal_drains_and_replaces_the_process(apache, signum):
    since = apache.log_size()
    pid = get_json(apache, "/sig/pid")["pid"]
    mark = apache.new_mark()
    slow = in_thread(lambda: apache.get(f"/sig/sleep?s=1&mark={mark}"))
    apache.wait_for_mark(mark)  # its thread is busy with it now
    os.kill(pid, signum)
    r = slow()
    assert r.status == 200 and r.json()["pid"] == pid  # finished within graceful-timeout
    exit_line(apache, "sig", pid, "restarted by SIGUSR1/SIGINT", since)
    for _ in range(5):
        assert get_json(apache, "/sig/pid")["pid"] != pid


@pytest.mark.log_ids("GANTRY0214", "GANTRY0072")
def test_deadlock_timeout_restarts_a_process_whose_gil_is_held(apache):
    since = apache.log_size()
    pid = get_json(apache, "/lock/pid")["pid"]
    r = apache.get("/lock/gil?s=20")  # libc sleep() with the GIL held
    assert r.status == 502
    line = log_line(apache, r"GANTRY0214: [^\n]*", since)
    assert f"pid {pid}" in line and "GET /lock/gil?s=20" in line
    exit_line(apache, "lock", pid, "deadlock", since)
    assert get_json(apache, "/lock/pid")["pid"] != pid


def test_restart_interval_replaces_the_process_after_its_age(apache):
    since = apache.log_size()
    pid = get_json(apache, "/interval/pid")["pid"]
    exit_line(apache, "interval", pid, "restart-interval elapsed", since)
    assert get_json(apache, "/interval/pid")["pid"] != pid


@pytest.mark.log_ids("GANTRY0072")
def test_cpu_time_limit_restarts_a_process_that_used_its_cpu(apache):
    since = apache.log_size()
    pid = get_json(apache, "/cpu/pid")["pid"]
    assert get_json(apache, "/cpu/limits")["cpu"] == 3
    r = apache.get("/cpu/spin?s=10")
    assert r.status == 502  # SIGXCPU at 3 s of CPU, then shutdown-timeout 1 s
    exit_line(apache, "cpu", pid, "cpu-time-limit reached", since)
    assert get_json(apache, "/cpu/pid")["pid"] != pid


def test_memory_limits_and_cpu_priority_apply_to_the_process(apache):
    info = get_json(apache, "/limits/limits")
    assert info["data"] == 300 * 1024 * 1024
    assert info["as"] == 1500 * 1024 * 1024
    assert get_json(apache, "/limits/nice")["nice"] == 5
    # Over memory-limit (RLIMIT_DATA) an allocation fails with MemoryError; the process
    # lives on and serves the next request.
    assert get_json(apache, "/limits/alloc?mb=400")["allocated"] == 0
    assert get_json(apache, "/limits/alloc?mb=20")["allocated"] == 20 * 1024 * 1024


def both_processes(apache, group="reload"):
    """Pids of two requests that ran at the same time: with threads=1, one per process."""
    pending = [in_thread(lambda: apache.get(f"/{group}/sleep?s=0.5")) for _ in range(2)]
    responses = [p() for p in pending]
    assert all(r.status == 200 for r in responses)
    return {r.json()["pid"] for r in responses}


def test_touching_the_script_restarts_each_process_gracefully(apache):
    since = apache.log_size()
    before = both_processes(apache)  # both processes have loaded the script
    assert len(before) == 2
    assert get_json(apache, "/reload/pid")["script_reloading"] == "1"
    script = apache.apps / "lifecycle_reload.wsgi"
    st = script.stat()
    os.utime(script, (st.st_atime, st.st_mtime + 10))
    # Each process sees the change at its next request, serves it, and is replaced.
    assert both_processes(apache) == before
    for pid in before:
        line = exit_line(apache, "reload", pid, "WSGI script changed", since)
        assert "cut off" not in line
    assert len(re.findall("GANTRY0213", apache.log_text(since))) == 2
    assert not both_processes(apache) & before


@pytest.mark.log_ids("GANTRY0065")
def test_a_killed_process_is_logged_with_its_signal_and_rss_and_replaced(apache):
    since = apache.log_size()
    pid = get_json(apache, "/crash/grow")["pid"]  # RSS above 100 MiB
    # threads=1: this one is taken only once the first has been fully accounted (its RSS
    # noted for the parent).
    assert get_json(apache, "/crash/pid")["pid"] == pid
    os.kill(pid, signal.SIGKILL)
    line = log_line(apache, rf"GANTRY0065: daemon process 0 of group 'crash' \(pid {pid}\)[^\n]*",
                    since)
    assert "killed by SIGKILL" in line
    rss = float(re.search(r"RSS (\d+\.\d) MiB after its last request", line).group(1))
    assert rss > 100
    assert get_json(apache, "/crash/pid")["pid"] != pid


@pytest.mark.log_ids("GANTRY0215", *harness.ids("app_exception"))
def test_interrupt_timeout_raises_request_timeout_and_keeps_the_process(apache):
    since = apache.log_size()
    pid = get_json(apache, "/intr/pid")["pid"]
    r = apache.get("/intr/spin?s=30")  # a Python loop: the exception lands at once
    assert r.status == 504
    line = log_line(apache, r"GANTRY0215: [^\n]*", since)
    assert "raised mod_wsgi.RequestTimeout in GET /intr/spin?s=30" in line
    # The stuck thread's stack: GANTRY0215 continuation lines, each written on its own.
    apache.wait_for_log(r'GANTRY0215:\s+File "[^"]*lifecycle\.wsgi", line \d+, in application', since)
    apache.wait_for_log(r"GANTRY0216: the interrupted request\(s\) ended", since)
    assert get_json(apache, "/intr/pid")["pid"] == pid  # the process was kept


@pytest.mark.log_ids("GANTRY0215")
def test_interrupt_timeout_is_not_swallowed_by_except_exception(apache):
    """mod_wsgi.RequestTimeout derives from BaseException (mod_wsgi 6): an app whose loop
    catches Exception still unwinds; the request is answered 504 with one info line
    (GANTRY0130, no traceback) and the process is kept."""
    since = apache.log_size()
    pid = get_json(apache, "/intr/pid")["pid"]
    r = apache.get("/intr/spin-guarded?s=30")
    assert r.status == 504
    log_line(apache, r"GANTRY0130: [^\n]*", since)
    apache.wait_for_log(r"GANTRY0216", since)
    assert "GANTRY0109" not in apache.log_text(since)  # not reported as an app exception
    assert get_json(apache, "/intr/pid")["pid"] == pid


@pytest.mark.log_ids("GANTRY0215", "GANTRY0212", "GANTRY0072")
def test_interrupt_timeout_restarts_when_the_request_does_not_unwind(apache):
    since = apache.log_size()
    pid = get_json(apache, "/intr/pid")["pid"]
    r = apache.get("/intr/sleep?s=30")  # inside time.sleep(): cannot be interrupted
    assert r.status == 502
    log_line(apache, r"GANTRY0215: [^\n]*GET /intr/sleep", since)
    exit_line(apache, "intr", pid, "request-timeout", since)
    assert get_json(apache, "/intr/pid")["pid"] != pid


@pytest.mark.log_ids("GANTRY0217", *harness.ids("script_load_failed"))
def test_startup_timeout_restarts_a_process_whose_script_does_not_load(apache):
    flag = apache.apps / "startup_ok.flag"
    assert not flag.exists()
    since = apache.log_size()
    assert apache.get("/startup/pid").status == 500  # the import raised
    line = log_line(apache, r"GANTRY0217: [^\n]*", since)
    # startup-timeout=2 after the failure, by the daemon's own clock (the log's stamps of
    # the failed load and of the timeout), not by how soon this busy machine polled the log.
    failed = log_line(apache, r"\[[^]\n]+\][^\n]*GANTRY0107[^\n]*", since)
    timed_out = log_line(apache, r"\[[^]\n]+\][^\n]*GANTRY0217[^\n]*", since)
    assert 1.5 < log_stamp(timed_out) - log_stamp(failed) < 6
    assert "startup_flag.wsgi" in line and "raise startup-timeout=" in line
    pid = int(re.search(r"group startup, pid (\d+)", line).group(1))
    exit_line(apache, "startup", pid, "did not load within startup-timeout", since)
    # Once the import works, the replacement loads it and is kept past startup-timeout.
    flag.write_text("ok\n")
    loaded = get_json(apache, "/startup/pid")["pid"]
    assert loaded != pid
    daemon_procs.wait_age(loaded, 3)  # lived past startup-timeout=2 and its next check
    assert get_json(apache, "/startup/pid")["pid"] == loaded
    assert apache.log_text(since).count("GANTRY0217") == 1


def test_startup_timeout_keeps_a_process_whose_script_loads(apache):
    since = apache.log_size()
    pid = get_json(apache, "/startok/pid")["pid"]
    daemon_procs.wait_age(pid, 3)  # lived past startup-timeout=2 and its next check
    assert get_json(apache, "/startok/pid")["pid"] == pid
    assert "GANTRY0217" not in apache.log_text(since)


@pytest.mark.log_ids("GANTRY0218", "GANTRY0072")
def test_inactivity_timeout_restarts_a_process_whose_request_makes_no_io(apache):
    pid = get_json(apache, "/stall/pid")["pid"]
    since = apache.log_size()
    started = time.monotonic()
    r = apache.get("/stall/sleep?s=30")  # no read, no write while it sleeps
    elapsed = time.monotonic() - started
    # inactivity-timeout=2, then shutdown-timeout=1 for the stuck request: not its 30 s.
    assert 500 <= r.status < 600, r.status
    assert 1.5 < elapsed < 6, elapsed
    line = log_line(apache, r"GANTRY0218: [^\n]*", since)
    assert f"group stall, pid {pid}" in line
    assert "GET /stall/sleep?s=30 (running" in line and "inactivity-timeout=2 s" in line
    exit_line(apache, "stall", pid, "inactivity-timeout", since)
    assert get_json(apache, "/stall/pid")["pid"] != pid


@pytest.mark.log_ids("GANTRY0218", "GANTRY0072")
def test_inactivity_timeout_sees_a_stuck_first_request_of_a_fresh_process(apache):
    # Nothing was served yet, so no idle deadline was armed, and deadlock-timeout=0 leaves
    # no other timer: the request's start itself must wake the lifecycle's main thread.
    # (Only this test uses the group.)
    since = apache.log_size()
    started = time.monotonic()
    r = apache.get("/stallfirst/sleep?s=30")
    elapsed = time.monotonic() - started
    assert 500 <= r.status < 600, r.status
    assert 1.5 < elapsed < 6, elapsed
    line = log_line(apache, r"GANTRY0218: [^\n]*", since)
    assert "group stallfirst" in line and "GET /stallfirst/sleep?s=30 (running" in line


def test_inactivity_timeout_spares_a_request_that_keeps_writing(apache):
    since = apache.log_size()
    started = time.monotonic()
    r = apache.get("/stall/stream?every=0.5&n=8")  # 4 s in all, a line every 0.5 s
    elapsed = time.monotonic() - started
    assert r.status == 200, r.status
    lines = r.text.splitlines()
    assert [ln.split()[0] for ln in lines] == [str(i) for i in range(8)]
    assert len({ln.split()[1] for ln in lines}) == 1  # one process served it all
    assert elapsed > 3.5
    assert "GANTRY0218" not in apache.log_text(since)
