"""Runs Apache in the foreground and stops everything it started.

Apache runs in a session of its own, so a Ctrl-C at the terminal reaches only this launcher
(not Apache's daemon processes, which take SIGINT as "restart"); the launcher then stops Apache
with SIGTERM, as `apachectl stop` does, and waits until every process Apache had is gone,
killing any that outlive a deadline. Apache also gets SIGTERM should the launcher die.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import errors

START_TIMEOUT = 60.0   # the daemons import the application before Apache answers
STOP_TIMEOUT = 30.0    # graceful-timeout and shutdown-timeout of a busy daemon fit in it
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def session_processes(sid: int) -> dict[int, str]:
    """Live processes of session `sid` -> their start time (to tell them from a reused pid)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields and fields[0] not in ("Z", "X") and int(fields[3]) == sid:
                found[int(entry)] = fields[19]
    return found


def _still_alive(tracked: dict[int, str]) -> dict[int, str]:
    alive = {}
    for pid, start in tracked.items():
        fields = _proc_stat(pid)
        if fields and fields[0] not in ("Z", "X") and fields[19] == start:
            alive[pid] = start
    return alive


def connect_host(host: str) -> str:
    """Where to reach a server listening on `host` (a wildcard address means this machine)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


class Foreground:
    def __init__(self, apache_bin: Path, conf: Path):
        self.apache_bin = apache_bin
        self.conf = conf
        self.proc: subprocess.Popen | None = None
        self.tracked: dict[int, str] = {}
        self.stop_signal: int | None = None

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum
        self._terminate()

    def _terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.tracked.update(session_processes(self.proc.pid))
            os.kill(self.proc.pid, signal.SIGTERM)

    def start(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.proc = subprocess.Popen(
            [str(self.apache_bin), "-f", str(self.conf), "-DFOREGROUND"],
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
        if self.stop_signal is not None:  # came while Apache was being forked
            self._terminate()

    def wait_listening(self, host: str, port: int) -> bool:
        """True once Apache accepts connections; False if it exited or a signal came first."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.stop_signal is None:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((connect_host(host), port), timeout=1.0):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def wait(self) -> int:
        """Until Apache exits (on its own or because a signal stopped it); then makes sure every
        process of its session is gone. Returns Apache's exit status."""
        rc = self.proc.wait()  # our signal handlers only set a flag and signal Apache
        self._reap_leftovers()
        return rc

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self._terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.tracked.update(session_processes(self.proc.pid))
                self.proc.kill()
                self.proc.wait()
        self._reap_leftovers()
        return self.proc.returncode if self.proc else 0

    def _reap_leftovers(self) -> None:
        if self.proc is None:
            return
        self.tracked.update(session_processes(self.proc.pid))
        deadline = time.monotonic() + STOP_TIMEOUT
        alive = _still_alive(self.tracked)
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = _still_alive(self.tracked)
        for pid in alive:
            print(f"gantry-express: process {pid} outlived Apache; killing it", file=sys.stderr)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def run(apache_bin: Path, conf: Path, host: str, port: int, announce) -> int:
    """Starts Apache, calls `announce()` once it listens, and returns when it has stopped:
    0 when a signal stopped it, else Apache's own exit status."""
    fg = Foreground(apache_bin, conf)
    fg.start()
    try:
        if fg.wait_listening(host, port):
            announce()
        elif fg.stop_signal is None and fg.proc.poll() is not None:
            fg.wait()
            raise errors.ExpressError(errors.APACHE_FAILED,
                                      f"Apache exited at start-up (status {fg.proc.returncode})")
        elif fg.stop_signal is None:
            fg.stop()
            raise errors.ExpressError(
                errors.APACHE_FAILED,
                f"Apache did not listen on {host}:{port} within {START_TIMEOUT:.0f} s")
        rc = fg.wait()
    finally:
        if fg.proc.poll() is None:
            fg.stop()
    return 0 if fg.stop_signal is not None else rc
