"""Process-state helpers for the daemon-mode tests: which of an Apache's processes are
daemons of which group (by the name ps shows), their memory figures and what they mapped.
Reads /proc only (Linux)."""
from __future__ import annotations

import time
from pathlib import Path

import harness


def cmdline(pid: int) -> str:
    """What `ps -o args` shows: argv joined by spaces ('' if the process is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict ('VmRSS' -> '12345 kB')."""
    out = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def kib(pid: int, key: str) -> int:
    """A /proc/PID/status memory figure (VmRSS, VmHWM...) in KiB."""
    return int(status(pid)[key].split()[0])


def smaps_rollup(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup's figures in KiB ('Rss', 'Pss', 'Shared_Clean'...)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                out[key] = int(value.split()[0])
    return out


def maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def maps_python(pid: int) -> list[str]:
    """The Python-related files `pid` has mapped (libpython, mod_gantry_python.so)."""
    found = set()
    for line in maps(pid).splitlines():
        path = line.split()[-1] if len(line.split()) >= 6 else ""
        if "libpython3" in path or "mod_gantry_python" in path:
            found.add(path)
    return sorted(found)


def group_pids(apache: "harness.Apache", group: str) -> list[int]:
    """Live serving processes of `apache` named (wsgi:GROUP) (display-name=%{GROUP}); a
    spare, "(wsgi:GROUP) spare" until it takes over, and the group's template,
    "(wsgi:GROUP) template" (docs/template.md), are not among them."""
    tag = f"(wsgi:{group})"
    return [pid for pid in apache.child_pids()
            if cmdline(pid).startswith(tag) and cmdline(pid) not in (f"{tag} spare", f"{tag} template")]


def spare_pids(apache: "harness.Apache", group: str) -> list[int]:
    """The spares of GROUP (display-name=%{GROUP}) waiting to take over."""
    return [pid for pid in apache.child_pids() if cmdline(pid) == f"(wsgi:{group}) spare"]


def waits_for_turn(pid: int) -> bool:
    """A spare blocked on the hand-over futex, i.e. really waiting for the token. Its
    title says "spare" (and the parent counts it as waiting) from the fork on, while it
    still loads the module and drops privileges; a spare still on its way there can be
    overtaken by a standby forked later, which then takes the token first."""
    try:
        return "futex" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


def daemon_pids(apache: "harness.Apache") -> list[int]:
    """Every live daemon process of `apache` whose name was set by display-name."""
    return [pid for pid in apache.child_pids() if cmdline(pid).startswith("(wsgi:")]


def wait_group(apache: "harness.Apache", group: str, count: int, timeout: float = 10.0,
               exclude: tuple[int, ...] = ()) -> list[int]:
    """Waits until `group` has `count` live processes not in `exclude`; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in group_pids(apache, group) if p not in exclude]
        if len(pids) == count or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def age(pid: int) -> float:
    """Seconds process `pid` has run (its start time in /proc/PID/stat against
    /proc/uptime)."""
    import os
    stat = Path(f"/proc/{pid}/stat").read_text()
    started_ticks = int(stat[stat.rindex(")") + 2:].split()[19])  # field 22
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - started_ticks / os.sysconf("SC_CLK_TCK")


def wait_age(pid: int, seconds: float, timeout: float = 30.0) -> None:
    """Waits until process `pid` has run `seconds`: for checks that something did NOT
    happen to it by then, this measures the process itself, not the test's own clock."""
    deadline = time.monotonic() + timeout
    while age(pid) < seconds:
        assert time.monotonic() < deadline, f"pid {pid} is not {seconds} s old yet"
        time.sleep(0.05)
