#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/fuzz_*/).

The seeds are what the targets see in real use - a forwarder's HELLO + REQUEST, a
daemon's responses (headers, DATA, FILE, credit, LOG, END, ABORT), the WSGIDaemonProcess
lines of the conf-examples and every option of docs/daemon-options.md, the start_response
cases of the reliability checklist (S1-S4), forwarding headers (S10) - plus a few that are
broken on purpose, so the fuzzer starts from both sides of every check. The frames are
encoded here the way include/gantry/protocol.hpp specifies them.

Rerun after changing the protocol: python3 tests/fuzz/make_seeds.py (it rewrites seed-*
files only; inputs saved from fuzzing runs under other names are kept).
"""
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

HELLO, REQUEST, BODY, BODY_END, READ_MORE, RESPONSE_START, DATA, FILE, FLUSH, LOG, END, ABORT, \
    AUTH_QUERY, AUTH_REPLY = range(1, 15)


def frame(kind, payload=b""):
    return struct.pack("<BBHI", kind, 0, 0, len(payload)) + payload


def pairs(items):
    out = b""
    for key, value in items:
        out += struct.pack("<II", len(key), len(value)) + key + value
    return out


def string(text):
    return struct.pack("<I", len(text)) + text


ENVIRON = [(b"REQUEST_METHOD", b"POST"), (b"SCRIPT_NAME", b""), (b"PATH_INFO", b"/echo"),
           (b"QUERY_STRING", b"a=1&b=2"), (b"CONTENT_LENGTH", b"11"),
           (b"HTTP_HOST", b"127.0.0.1:8080"), (b"HTTP_X_FORWARDED_FOR", b"10.0.0.1, 10.0.0.2"),
           (b"REMOTE_ADDR", b"127.0.0.1"), (b"mod_wsgi.process_group", b"gantry-test"),
           (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"HTTP_COOKIE", b"")]


def request_payload(environ=ENVIRON, traits=3):
    return bytes([traits, 0, 0, 0]) + struct.pack("<I", len(environ)) + pairs(environ)


def hello():
    return frame(HELLO, b"GANTRY\r\n" + struct.pack("<HH", 2, 0) + bytes(range(32)))


def response_start(status=b"200 OK", headers=((b"Content-Type", b"text/plain"),)):
    return frame(RESPONSE_START, string(status) + struct.pack("<I", len(headers)) + pairs(headers))


def end(outcome=0):
    return frame(END, bytes([outcome]))


def log(level, message):
    return frame(LOG, bytes([level]) + message)


def file_range(offset, length):
    return frame(FILE, struct.pack("<QQ", offset, length))


def auth_query():
    payload = bytes([2, 1, 0, 0]) + string(b"/srv/auth.wsgi") + string(b"") + string(b"alice") + \
        string(b"secret") + struct.pack("<I", 2) + pairs([(b"REQUEST_URI", b"/private"), (b"AUTH_TYPE", b"Basic")])
    return frame(AUTH_QUERY, payload)


def auth_reply():
    return frame(AUTH_REPLY, bytes([0, 0, 0, 0]) + struct.pack("<I", 2) + string(b"staff") + string(b"admin"))


def write(target, seeds):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    for name, data in seeds.items():
        (folder / f"seed-{name}").write_bytes(data)


def frame_decoder():
    forwarder = hello() + frame(REQUEST, request_payload()) + frame(BODY, b"hello world") + frame(BODY_END)
    daemon = frame(READ_MORE, struct.pack("<I", 262144)) + response_start() + frame(DATA, b"x" * 100) + \
        frame(FLUSH) + log(3, b"GANTRY0100: something") + end()
    return {
        "forwarder": b"\x05" + forwarder,
        "forwarder-bytewise": b"\x00" + forwarder,
        "daemon": b"\x20" + daemon,
        "file": b"\x01" + response_start() + file_range(0, 4096) + end(),
        "abort": b"\x07" + frame(ABORT, bytes([2]) + b"request body is malformed"),
        "auth": b"\x03" + hello() + auth_query() + log(6, b"checking") + auth_reply(),
        "truncated": b"\x02" + response_start()[:-3],
        "bad-header": b"\x04" + struct.pack("<BBHI", 99, 0, 0, 4) + b"abcd",
        "oversized": b"\x04" + struct.pack("<BBHI", DATA, 0, 0, 65537),
        "lying-count": b"\x09" + frame(RESPONSE_START, string(b"200 OK") + struct.pack("<I", 0xFFFFFFF0)),
    }


def environ_decoder():
    nul = b"\0".join(k + b"\0" + v for k, v in ENVIRON)
    return {
        "request": b"\x00" + request_payload(),
        "request-empty": b"\x00" + request_payload([], 0),
        "request-binary": b"\x00" + request_payload([(b"K\0EY", b"\xff\x00\r\n"), (b"", b"")], 7),
        "lying-length": b"\x00" + bytes([1, 0, 0, 0]) + struct.pack("<III", 1, 0xFFFFFFFF, 0) + b"K",
        "encode": b"\x0f" + nul,
        "encode-odd": b"\x03KEY\0value\0lonely",
    }


def daemon_response():
    hdrs = ((b"Content-Type", b"text/html; charset=utf-8"), (b"Set-Cookie", b"a=1"), (b"X-Long", b"v" * 200))
    return {
        "hello-world": b"\x00" + response_start() + frame(DATA, b"Hello world!\n") + end(),
        "streaming": b"\x01" + response_start(b"200 OK", hdrs) + b"".join(
            frame(DATA, b"chunk %d\n" % i) + frame(FLUSH) for i in range(5)) + end(),
        "upload": b"\x30" + frame(READ_MORE, struct.pack("<I", 262144)) + log(7, b"reading") +
                  frame(READ_MORE, struct.pack("<I", 1024)) + response_start(b"201 Created") +
                  frame(DATA, b"got it") + end(),
        "sendfile": b"\x01" + response_start() + file_range(0, 8192) + end(),
        "copyfile": b"\x00" + response_start() + file_range(100, 1000) + frame(DATA, b"tail") + end(),
        "file-past-end": b"\x00" + response_start() + file_range(8000, 1000) + end(),
        "file-pipe": b"\x08" + response_start() + file_range(0, 10) + end(),
        "fd-on-data": b"\x05" + response_start() + frame(DATA, b"a") + frame(DATA, b"b") + end(),
        "not-found": b"\x00" + end(1),
        "error-before-headers": b"\x00" + log(3, b"Traceback...") + end(2),
        "abort-mid": b"\x00" + response_start() + frame(DATA, b"part") + frame(ABORT, bytes([3]) + b"oops"),
        "crlf-injection": b"\x00" + response_start(b"200 OK", ((b"X", b"a\r\nSet-Cookie: x"),)) + end(),
        "hop-by-hop": b"\x00" + response_start(b"200 OK", ((b"Transfer-Encoding", b"chunked"),)) + end(),
        "bad-status": b"\x00" + response_start(b"200 OK\r\nX: y", ()) + end(),
        "header-too-large": b"\x02" + response_start(b"200 OK", ((b"X-Big", b"b" * 100),)) + end(),
        "data-first": b"\x00" + frame(DATA, b"early") + end(),
        "end-ok-no-headers": b"\x00" + end(0),
        "second-start": b"\x00" + response_start() + response_start() + end(),
        "hang-up": b"\x00" + response_start() + frame(DATA, b"x" * 50),
        "garbage": b"\x00" + b"HTTP/1.1 200 OK\r\n\r\n",
    }


OPTION_VALUES = {
    "processes": "2", "threads": "15", "display-name": "'%{GROUP}'", "user": "www-data", "group": "#33",
    "supplementary-groups": "adm,#4", "umask": "0022", "home": "/srv", "chroot": "/srv/jail", "lang": "en_US.UTF-8",
    "locale": "C.UTF-8", "script-user": "www-data", "script-group": "www-data", "socket-user": "#33",
    "python-home": '"/srv/venv"', "python-path": '"/srv/site:/srv/lib"', "python-eggs": "/tmp/eggs",
    "switch-interval": "0.005", "stack-size": "512K", "listen-backlog": "100", "connect-timeout": "15",
    "socket-timeout": "0", "queue-timeout": "45", "response-socket-timeout": "60", "send-buffer-size": "1M",
    "receive-buffer-size": "65536", "header-buffer-size": "32768", "response-buffer-size": "0",
    "response-flush-delay": "5", "maximum-requests": "1000", "inactivity-timeout": "300",
    "request-timeout": "60", "interrupt-timeout": "10", "graceful-timeout": "15", "eviction-timeout": "0",
    "shutdown-timeout": "5", "deadlock-timeout": "300", "startup-timeout": "15", "restart-interval": "3600",
    "cpu-time-limit": "600", "cpu-priority": "-5", "memory-limit": "1G", "virtual-memory-limit": "2G",
    "server-metrics": "On", "newrelic-config-file": "/etc/nr.ini", "newrelic-environment": "prod",
    "maximum-memory": "512M", "maximum-requests-jitter": "20", "memory-growth-log": "32M",
}


def daemon_options():
    seeds = {f"option-{name}": f"g {name}={value}".encode() for name, value in OPTION_VALUES.items()}
    seeds.update({
        "all": ("main " + " ".join(f"{n}={v}" for n, v in OPTION_VALUES.items() if n != "script-group")).encode(),
        "django": b'example.com python-home="/srv/venv" python-path="/srv/site"',
        "graphite": b"graphite-web processes=5 threads=5 display-name='%{GROUP}' inactivity-timeout=120",
        "flask": b'flaskapps processes=2 threads=5 display-name="flask apps"',
        "quoted-word": b'g "python-path=/srv/my site" threads=2',
        "escapes": b'g display-name="a \\"quoted\\" \\\\ name" home=/a\\\\b',
        "unterminated": b'g python-path="/srv/site threads=2',
        "glued": b'g python-path="/srv"/site',
        "empty-values": b'g python-path="" display-name=""',
        "overflow": b"g threads=99999999999999999999 maximum-memory=9223372036854775807K",
        "negative": b"g socket-timeout=-1 cpu-priority=-20",
        "unknown": b"g thread=2 maximum_requests=3",
        "twice": b"g threads=2 threads=3",
        "newline": b"g display-name='a\nb'\tthreads=1",
        "root": b"g user=root",
    })
    return seeds


def response_validator():
    def case(status, *headers, sep=b"\x01"):
        return sep + status + b"".join(sep + n + sep + v for n, v in headers)
    return {
        "ok": case(b"200 OK", (b"Content-Type", b"text/plain"), (b"Content-Length", b"12")),
        "s1-crlf": case(b"200 OK", (b"X", b"a\r\nSet-Cookie: x")),
        "s2-ctl": case(b"200 OK", (b"X", b"a\nb"), (b"Y", b"a\rb"), (b"Z", b"a\x00b"), (b"W", b"\x7f\x01")),
        "s3-names": case(b"200 OK", (b"", b"v"), (b"X Y", b"v"), (b"X:Y", b"v"), (b"X\tY", b"v"), (b"\xc4", b"v")),
        "s4-status": case(b"200OK") + b"|" + case(b"2000 OK") + case(b"20X OK") + case(b"200 OK\r\nX: y"),
        "informational": case(b"100 Continue"),
        "hop-by-hop": case(b"204 No Content", (b"Connection", b"close"), (b"Keep-Alive", b"5"), (b"TE", b"x")),
        "content-length": case(b"200 OK", (b"content-length", b"0123456789012345678"), sep=b"|"),
        "latin1": case(b"404 Nicht gef\xfcnden", (b"X-Latin", b"caf\xe9 \t"), sep=b"\n"),
    }


def trusted_proxy():
    def case(bits, proxies, peer, *values):
        lines = [proxies, peer] + list(values)
        return struct.pack("<H", bits) + b"\n".join(lines)
    xff_only = 1
    client_all = 0b111
    everything = 0x7fff
    return {
        "xff-trusted": case(xff_only, b"10.0.0.0/8 192.168.1.1", b"10.0.0.5", b"203.0.113.7, 10.0.0.9"),
        "xff-untrusted": case(xff_only, b"10.0.0.0/8", b"198.51.100.1", b"1.2.3.4"),
        "xff-empty-elements": case(xff_only, b"127.0.0.1", b"127.0.0.1", b"a,,b, ,1.2.3.4,,"),
        "no-proxies": case(client_all, b"", b"127.0.0.1", b"1.2.3.4", b"5.6.7.8", b"9.9.9.9"),
        "v6": case(everything, b"::1 2001:db8::/32 ::ffff:10.0.0.0/104", b"::ffff:10.1.2.3",
                   b"2001:db8::1, ::1", b"-", b"-", b"https", b"-", b"-", b"on", b"-", b"-",
                   b"example.org", b"-", b"8443", b"front", b"/app", b"-"),
        "netmask": case(everything, b"10.0.0.0/255.255.0.0 10.1.0.0/255.0.255.0 1.2.3.4/33", b"10.0.3.4",
                        b"garbage, 10.0.0.1", b"999.1.1.1", b" 1.2.3.4 ", b"ftp", b"HTTPS", b"x", b"off",
                        b"false", b"0", b"", b"h", b"65536", b"", b"/a,b", b"/c"),
        "spoof-all": case(everything, b"192.0.2.1", b"203.0.113.9", b"6.6.6.6", b"6.6.6.6", b"6.6.6.6", b"https",
                          b"https", b"https", b"on", b"on", b"on", b"evil", b"evil", b"1", b"evil", b"/evil",
                          b"/evil"),
    }


def main():
    write("fuzz_frame_decoder", frame_decoder())
    write("fuzz_environ_decoder", environ_decoder())
    write("fuzz_daemon_response", daemon_response())
    write("fuzz_daemon_options", daemon_options())
    write("fuzz_response_validator", response_validator())
    write("fuzz_trusted_proxy", trusted_proxy())


if __name__ == "__main__":
    main()
