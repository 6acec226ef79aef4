"""What /proc says about the processes a benchmarked server runs: CPU time and memory.

CPU time comes from /proc/PID/stat (utime+stime plus cutime+cstime, so children that exit
and are reaped during a run still count through their parent). Memory comes from
/proc/PID/smaps_rollup: RSS, PSS and USS (Private_Clean + Private_Dirty). Reading another
user's smaps_rollup needs root (the bench's Apaches drop their children to www-data).
"""
from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state); None when
    the process is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields


def start_time(pid: int) -> int | None:
    """Start time in ticks since boot: tells a pid apart from a later reuse."""
    f = _stat_fields(pid)
    return int(f[19]) if f else None


def ppid(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[1]) if f else None


def cpu_seconds(pid: int) -> float:
    """utime+stime of `pid` and of its reaped children; 0 if it is gone."""
    f = _stat_fields(pid)
    if not f:
        return 0.0
    return sum(int(x) for x in f[11:15]) / CLK_TCK


def thread_count(pid: int) -> int:
    f = _stat_fields(pid)
    return int(f[17]) if f else 0


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def descendants(root: int) -> list[int]:
    """Live descendants of `root`, parents before children."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = ppid(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        for child in sorted(children.get(todo.pop(0), [])):
            out.append(child)
            todo.append(child)
    return out


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds used so far by `roots` and all their live descendants."""
    total = 0.0
    for root in roots:
        for pid in [root] + descendants(root):
            total += cpu_seconds(pid)
    return total


def memory(pid: int) -> dict[str, float] | None:
    """RSS/PSS/USS of `pid` in MiB, from smaps_rollup; None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kib: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            kib[parts[0][:-1]] = int(parts[1])
    if "Rss" not in kib:
        return None
    return {"rss": kib["Rss"] / 1024, "pss": kib.get("Pss", 0) / 1024,
            "uss": (kib.get("Private_Clean", 0) + kib.get("Private_Dirty", 0)) / 1024}


def listening_socket_inodes(port: int) -> set[str]:
    """Inodes of the TCP sockets listening on 127.0.0.1:`port`."""
    want = f"0100007F:{port:04X}"
    inodes = set()
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return inodes
    for line in lines:
        parts = line.split()
        if len(parts) > 9 and parts[1] == want and parts[3] == "0A":
            inodes.add(parts[9])
    return inodes


def holds_socket(pid: int, inodes: set[str]) -> bool:
    """Whether `pid` has one of the socket `inodes` open (an Apache worker child holds the
    listener; a WSGI daemon process does not need to)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False
