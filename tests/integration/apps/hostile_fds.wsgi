# A hostile tenant: the application writes to its own daemon connection, behind the
# daemon's back, frames that carry file descriptors (SCM_RIGHTS) the Apache child never
# asked for - what any application code can do by finding the socket in /proc/self/fd.
#   /flood?n=N&per=P   N messages, each a LOG frame (debug level) carrying P descriptors;
#                      records how far it got in $GANTRY_STATE/flood-<token>.json, then
#                      waits (up to 30 s) for $GANTRY_STATE/release-<token> to exist, so the
#                      request stays open while the test looks at the Apache child
#   /info              {"pid": ...}: the group still serves
import array
import json
import os
import socket
import struct
import time
import urllib.parse

LOG_FRAME = 10  # FrameType::log (include/gantry/protocol.hpp)
DEBUG = 7       # gantry::Level::debug: the Apache child does not even write these lines


def connection_socket():
    """The socket this request came in on: the one accepted (not listening) AF_UNIX
    stream socket bound to a path (the group's socket). The group runs one thread, so
    there is exactly one."""
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
            if not target.startswith("socket:") or target in found:
                continue  # (a duplicate this loop made can reuse a listed number)
            s = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        if (s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM
                and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                and isinstance(s.getsockname(), str) and s.getsockname()):
            found[target] = s
        else:
            s.close()
    if len(found) != 1:
        raise RuntimeError(f"expected one connection socket, found {sorted(found)}")
    return next(iter(found.values()))


def flood(sock, count, per):
    message = b"x"
    frame = struct.pack("<BBHI", LOG_FRAME, 0, 0, 1 + len(message)) + bytes([DEBUG]) + message
    null = os.open("/dev/null", os.O_RDONLY)
    fds = array.array("i", [null] * per)
    sent = 0
    stopped = None
    try:
        for _ in range(count):
            sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], socket.MSG_NOSIGNAL)
            sent += 1
    except OSError as error:  # the Apache child hung up on us: the defence worked
        stopped = f"{type(error).__name__}: {error}"
    finally:
        os.close(null)
    return sent, stopped


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/flood":
        token = query["token"][0]
        state = environ["GANTRY_STATE"]
        sock = connection_socket()
        sent, stopped = flood(sock, int(query["n"][0]), int(query["per"][0]))
        sock.close()
        with open(os.path.join(state, f"flood-{token}.json.tmp"), "w") as f:
            json.dump({"sent": sent, "stopped": stopped, "pid": os.getpid()}, f)
        os.rename(os.path.join(state, f"flood-{token}.json.tmp"),
                  os.path.join(state, f"flood-{token}.json"))
        release = os.path.join(state, f"release-{token}")
        deadline = time.monotonic() + 30
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
        body = b"survived"
    else:
        body = json.dumps({"pid": os.getpid(),
                           "group": environ.get("mod_wsgi.process_group")}).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
