"""App for the gantry-status page tests: answers name the serving process; some URLs are
slow, grow the process, fail, or - as a hostile application would - scribble over the
process's own status scoreboard, or inspect what status memory the process can reach."""
import ctypes
import json
import os
import time
from urllib.parse import parse_qs

_hoard = []  # /grow keeps its memory: the peak must stay raised
PROT_READ, PROT_WRITE = 1, 2


def _status_mappings():
    """(start, end, perms) of every gantry-status memfd this process has mapped."""
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "memfd:gantry-status" in line:
                span, perms = line.split()[:2]
                start, end = (int(x, 16) for x in span.split("-"))
                found.append((start, end, perms))
    return found


def _status_fds():
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return [n for n in names if "gantry-status" in n]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    info = {"pid": os.getpid()}
    if path == "/sleep":
        time.sleep(float(query.get("s", ["0"])[0]))
    elif path == "/grow":
        _hoard.append(b"x" * (100 * 1024 * 1024))  # written, so resident
    elif path == "/fail":
        raise RuntimeError("gantry-test: status page counts this failure")
    elif path == "/scribble":
        # A hostile application: garbage over every writable status mapping it has.
        libc = ctypes.CDLL(None, use_errno=True)
        for start, end, perms in _status_mappings():
            if "w" in perms:
                junk = os.urandom(end - start)
                ctypes.memmove(start, junk, end - start)
                info.setdefault("scribbled", 0)
                info["scribbled"] += end - start
    elif path == "/reach":
        # What status memory this process can reach, and whether a read-only mapping can be
        # made writable.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        maps = _status_mappings()
        upgrades = []
        for start, end, perms in maps:
            if "w" not in perms:
                rc = libc.mprotect(start, end - start, PROT_READ | PROT_WRITE)
                upgrades.append(rc == 0)
        info.update(mappings=[perms for _, _, perms in maps], fds=_status_fds(),
                    upgraded=upgrades)
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
