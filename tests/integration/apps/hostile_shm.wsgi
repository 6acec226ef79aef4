# A hostile tenant (issue 12): looks for Gantry's shared memory in its own process and
# writes all ones over every byte it can reach, as an application that wants to confuse
# Apache's parent about other groups would.
#   /info      JSON: pid
#   /scan      JSON: the gantry memfd mappings (name, size, writable) and descriptors found
#   /scribble  overwrites every writable gantry mapping, and every gantry memfd it can reopen
#              through /proc/self/fd and map; JSON: what it reached
import ctypes
import json
import mmap
import os


def _gantry_mappings():
    out = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and "memfd:gantry" in parts[5]:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                out.append({"name": parts[5].strip(), "start": start, "size": end - start,
                            "writable": parts[1][1] == "w"})
    return out


def _gantry_fds():
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if "memfd:gantry" in target:
            out.append({"fd": int(name), "target": target})
    return out


def _scribble():
    written = 0
    for m in _gantry_mappings():
        if m["writable"]:
            ctypes.memset(m["start"], 0xFF, m["size"])
            written += m["size"]
    reopened = 0
    for f in _gantry_fds():
        try:
            fd = os.open(f"/proc/self/fd/{f['fd']}", os.O_RDWR)
        except OSError:
            continue
        try:
            size = os.fstat(fd).st_size
            with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
                m[:] = b"\xff" * size
                reopened += size
        except (OSError, ValueError):
            pass
        finally:
            os.close(fd)
    return {"written": written, "reopened": reopened}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/scan":
        body = {"pid": os.getpid(), "mappings": _gantry_mappings(), "fds": _gantry_fds(),
                "page": mmap.PAGESIZE}
    elif path == "/scribble":
        body = dict(_scribble(), pid=os.getpid())
    else:
        body = {"pid": os.getpid()}
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]
