"""Tells httpd's own event-MPM stop race apart from every other crash, by the core file.

The race (Debian's apache2 2.4.71, reproduced with no WSGI module loaded at all:
scripts/httpd-stop-race.py): on SIGTERM an event child's main thread runs the MPM's
close_worker_sockets(), which reads each worker's current socket from worker_sockets[] and
closes it. A worker that is closing a connection at that moment destroys the connection's
pool - the socket struct with it, its memory unmapped - before it clears its worker_sockets[]
entry, so the main thread dereferences a freed socket and dies of SIGSEGV. Its stack then
holds only APR's socket/pool calls, the MPM's own code, ap_run_mpm() and main(): no module
runs on that path.

classify() reads a core with gdb and answers with a description only when the crashing
thread is the child's main thread with exactly that stack shape; anything else (a frame of
mod_gantry, of libpython, of any other library, a worker thread, no core, no gdb, a core of
another process) is None and stays a failure. The harness asks only about children that died
after it sent the stop signal to an event-MPM Apache.
"""
from __future__ import annotations

import re
import shutil
import warnings
import subprocess
from pathlib import Path

# A child's crash in the error log (mod_unixd/mpm_common, AH00051).
CRASH_LINE = re.compile(r"AH00051: child pid (\d+) exit signal Segmentation fault \(11\)")

_BT_MARK = "--- backtrace of the crashing thread ---"
_THREAD = re.compile(r"^(\*)?\s*\d+\s+Thread 0x[0-9a-f]+ \(LWP (\d+)\)")
_FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*?\)(?: from (\S+))?")


def frames(backtrace: str) -> list[tuple[str, str]]:
    """(function, object file or "") for each frame of gdb's `bt` output, innermost first
    (only what follows the mark classify() prints before `bt`, when present: gdb also shows
    frame #0 when it opens the core)."""
    out = []
    _, mark, after = backtrace.partition(_BT_MARK)
    for line in (after if mark else backtrace).splitlines():
        m = _FRAME.match(line.strip())
        if m:
            out.append((m.group(2), m.group(3) or ""))
    return out


def _object(path: str) -> str:
    return Path(path).name if path else ""


def is_stop_race_stack(stack: list[tuple[str, str]]) -> bool:
    """True for exactly: APR frames (libapr-1), then the event MPM's own frames, then
    ap_run_mpm and main (libc's start-up frames may follow main)."""
    i = 0
    n = len(stack)
    while i < n and _object(stack[i][1]).startswith("libapr-1.so"):
        i += 1
    if i == 0:
        return False
    start = i
    while i < n and _object(stack[i][1]) == "mod_mpm_event.so":
        i += 1
    if i == start:
        return False
    if stack[i:i + 2] != [("ap_run_mpm", ""), ("main", "")]:
        return False
    return all(_object(obj).startswith("libc.so") or func.startswith("__libc_start")
               for func, obj in stack[i + 2:])


def analyse(gdb_output: str, pid: int) -> str | None:
    """The verdict on gdb's output for a core ("info threads", the mark, "bt"): a description of
    the race when it is the core of `pid` that died of it, else None."""
    if "Program terminated with signal SIGSEGV" not in gdb_output:
        return None
    current = None
    for line in gdb_output.splitlines():
        m = _THREAD.match(line.strip())
        if m and m.group(1):
            current = int(m.group(2))
    # The crashing thread must be the child's main thread (its LWP is the child's pid): that
    # is also what ties the core to this child, as Debian writes every core as plain "core".
    if current != pid:
        return None
    stack = frames(gdb_output)
    if not is_stop_race_stack(stack):
        return None
    apr = " <- ".join(f for f, obj in stack if _object(obj).startswith("libapr-1.so"))
    return (f"child {pid}: httpd's event-MPM race in close_worker_sockets() at stop (main "
            f"thread, no module frame: {apr} <- mod_mpm_event.so <- ap_run_mpm <- main)")


def classify(core_dir: Path, pid: int, apache_bin: str) -> str | None:
    """Reads the core of `pid` (an `apache_bin` child) in `core_dir` with gdb; see analyse()."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return None
    for core in sorted(core_dir.glob("core*")):
        try:
            out = subprocess.run([gdb, "-batch", "-nx", "-ex", "info threads",
                                  "-ex", f"echo {_BT_MARK}\\n", "-ex", "bt",
                                  apache_bin, str(core)], capture_output=True, text=True,
                                 timeout=120).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        verdict = analyse(out, pid)
        if verdict:
            return verdict
    return None


class KnownHttpdCrash(UserWarning):
    """A child crash at stop that classify() attributed to httpd's own race."""


def known_stop_crashes(problems: list[str], stop_log: str, core_dir: Path,
                       apache_bin: str) -> dict[str, str]:
    """{problem line: verdict} for the lines of `problems` that report a child's SIGSEGV
    logged after the stop signal (they are in `stop_log`, the error log from the moment
    the stop was signalled) and whose core classify() attributes to the race."""
    known = {}
    for line in problems:
        m = CRASH_LINE.search(line)
        if m and line in stop_log:
            verdict = classify(core_dir, int(m.group(1)), apache_bin)
            if verdict:
                known[line] = verdict
    return known


def report(known: dict[str, str]) -> None:
    """Reports each known crash as a KnownHttpdCrash warning (pytest's warnings summary)."""
    for line, verdict in known.items():
        warnings.warn(KnownHttpdCrash(f"{verdict}\n  log: {line}"), stacklevel=3)
