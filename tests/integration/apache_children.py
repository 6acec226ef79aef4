"""Waiting for an Apache's MPM children to finish starting, for tests that stop a server
they have just started. Under load, an event-MPM child told to stop within a second of the
server's start crashed twice (its main thread faulted in the MPM's listener handling, with no
Gantry frame on any thread; the child had only just been forked as a spare): a test that
means to check what happens at stop must stop a server whose children are up."""
from __future__ import annotations

import re
import time
from pathlib import Path

import daemon_procs
import harness


def _threads(pid: int) -> int:
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except OSError:
        return 0


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat[stat.rindex(")") + 2:].split()[1])


def mpm_children(apache: "harness.Apache") -> list[int]:
    """The parent's children that serve HTTP (daemon processes need display-name= to be told
    apart: they are named (wsgi:GROUP); Gantry's daemon spawner is (gantry-spawner))."""
    return [pid for pid in apache.child_pids()
            if _ppid(pid) == apache.pid and not daemon_procs.cmdline(pid).startswith("(wsgi:")
            and daemon_procs.cmdline(pid) != "(gantry-spawner)"]


def wait_started(apache: "harness.Apache", timeout: float = 20.0) -> list[int]:
    """Waits until every MPM child has started Python (Gantry's GANTRY0101, mod_wsgi's
    'Initializing Python') and, under the event MPM, runs all its worker threads."""
    workers = int(re.search(r"ThreadsPerChild (\d+)", harness.MPM_CONFIG[apache.mpm]).group(1)) \
        if apache.mpm == "event" else 0
    deadline = time.monotonic() + timeout
    while True:
        children = mpm_children(apache)
        log = apache.log_text()
        ready = [pid for pid in children
                 if re.search(rf"\[pid {pid}(?::tid \d+)?\].*(GANTRY0101|Initializing Python)", log)
                 and _threads(pid) >= workers + 1]
        if children and ready == children:
            return children
        assert time.monotonic() < deadline, f"Apache children {children} did not finish starting"
        time.sleep(0.05)
