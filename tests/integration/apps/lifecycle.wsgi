"""App for the daemon lifecycle tests: every answer names the process that served it, so a
test can see when a process was recycled, and some URLs misbehave on purpose (sleep, grow,
burn CPU, hold the GIL) to trip one limit each."""
import ctypes
import json
import os
import time
from urllib.parse import parse_qs

# Kept alive on purpose: /grow must make the process bigger and keep it that way.
_hoard = []


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _uss_bytes():
    # What maximum-memory compares: the pages this process alone holds (smaps_rollup's
    # Private_* lines, in kB).
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) * 1024 for line in f if line.startswith("Private_"))


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    seconds = float(query.get("s", ["0"])[0])
    info = {"pid": os.getpid()}
    if path == "/sleep":
        if "mark" in query:  # tells the test this thread is busy now (harness.wait_for_mark)
            open(os.path.join(environ["GANTRY_STATE"], query["mark"][0]), "w").close()
        time.sleep(seconds)
    elif path == "/grow":
        # 100 MB that stays resident: bytes multiplication writes every page.
        _hoard.append(b"x" * (100 * 1024 * 1024))
    elif path == "/spin":
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass
    elif path == "/spin-guarded":
        # An app that guards its work with `except Exception:` (a retry loop): an injected
        # mod_wsgi.RequestTimeout must still get out (it is a BaseException).
        # Nearly all of the time is spent inside the try (where the exception lands).
        end = time.process_time() + seconds
        while time.process_time() < end:
            try:
                for _ in range(100000):
                    pass
            except Exception:
                info["swallowed"] = True
    elif path == "/gil":
        # libc sleep() called through PyDLL keeps the GIL: the whole interpreter stalls.
        ctypes.PyDLL(None).sleep(int(seconds))
    elif path == "/alloc":
        try:
            block = bytearray(int(query["mb"][0]) * 1024 * 1024)
            info["allocated"] = len(block)
        except MemoryError:
            info["allocated"] = 0
    elif path == "/nice":
        info["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    elif path == "/limits":
        import resource
        info["cpu"] = resource.getrlimit(resource.RLIMIT_CPU)[0]
        info["data"] = resource.getrlimit(resource.RLIMIT_DATA)[0]
        info["as"] = resource.getrlimit(resource.RLIMIT_AS)[0]
    info["rss"] = _rss_bytes()
    info["uss"] = _uss_bytes()
    info["script_reloading"] = environ.get("mod_wsgi.script_reloading")
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
