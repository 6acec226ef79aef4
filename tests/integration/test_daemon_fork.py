"""os.fork() in an application running in a daemon process (issue 12).

A forked child that returns into the server must never serve the group: it used to go back
to the worker loop and accept connections on the group's socket outside supervision, and
once Apache stopped, spin at 100 % CPU on the pool's stop eventfd. Now it holds none of the
daemon's descriptors (listening socket, eventfd, epoll, connections: an inert pipe end in
their place), logs GANTRY0503 and exits as soon as it comes back. A forked child that stays in the
application (sleeps, or is a multiprocessing worker) keeps running it, idle; subprocess and
multiprocessing with the fork start method work as before.
"""
import os
import signal
import time
from pathlib import Path

import pytest

import daemon_procs
import harness

pytestmark = [pytest.mark.embedded_only]

CONFIG = """
WSGIDaemonProcess forks display-name=%{GROUP} processes=2 threads=4
WSGIScriptAlias / @APPS@/fork.wsgi process-group=forks application-group=%{GLOBAL}
SetEnv FORK_STATE @STATE@
"""


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of `pid`; None once it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[11]) + int(fields[12])


def wait_pidfile(apache, tag: str) -> int:
    path = apache.state / f"{tag}.pid"
    deadline = time.monotonic() + 15
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return int(path.read_text())


def wait_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while cpu_ticks(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def socket_fds(pid: int) -> list[str]:
    """What `pid` holds of the daemon's kinds of descriptor (sockets, eventfd, epoll)."""
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:") or "eventfd" in target or "eventpoll" in target:
            out.append(f"{fd.name} -> {target}")
    return out


def test_a_fork_that_returns_never_serves_or_spins(mpm):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="fork")) as apache:
        supervised = set(daemon_procs.wait_group(apache, "forks", 2))
        assert len(supervised) == 2, supervised
        # One group as Apache's User (mod_wsgi's default): nothing to warn about.
        assert not [ln for ln in apache.log_lines() if ln.gantry_id in ("GANTRY0501", "GANTRY0502")]
        offset = apache.log_size()
        r = apache.get_json("/fork-return?tag=returned")
        assert r["pid"] in supervised
        clone = wait_pidfile(apache, "returned")
        assert wait_gone(clone), f"the fork {clone} that returned is still running"
        apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0503" and f"pid {clone}," in ln.message,
                             since=offset, what="GANTRY0503 for the returned fork")
        # A fork that stays in the application: idle, and holding none of the daemon's
        # descriptors (its connection included).
        apache.get_json("/fork-sleep?tag=sleeper")
        sleeper = wait_pidfile(apache, "sleeper")
        assert socket_fds(sleeper) == []
        try:
            served = {apache.get_json("/info")["pid"] for _ in range(40)}
            assert served <= supervised, f"requests served by {served - supervised}"
            apache.stop()
            before = cpu_ticks(sleeper)
            time.sleep(1.0)  # a measurement interval, not a wait for a condition
            after = cpu_ticks(sleeper)
            assert before is not None and after is not None and after - before <= 2, (before, after)
        finally:
            try:
                os.kill(sleeper, signal.SIGKILL)
            except OSError:
                pass
        assert cpu_ticks(clone) is None


def test_subprocess_and_multiprocessing_still_work(mpm):
    """A Pool closed by its `with` block terminates its workers with SIGTERM, which a fork
    of a request thread used to inherit blocked: the request hung (and the workers outlived
    Apache)."""
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="fork-mp")) as apache:
        r = apache.get_json("/spawn")
        assert r["true"] == 0 and r["echo"] == "hi"
        assert r["process"] == "child" and r["exitcode"] == 0
        assert r["pool"] == [1, 4, 9]
        # The server still serves from its own processes afterwards.
        assert apache.get_json("/info")["pid"] in daemon_procs.group_pids(apache, "forks")
