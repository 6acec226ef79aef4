# What an application sees of the process's Python: the standard streams, wsgi.errors,
# signal(), sys.prefix. ?print=TEXT / ?stderr=TEXT / ?errors=TEXT / ?errors-bytes=TEXT
# write TEXT there first (the bytes variant through .buffer, as bytes, bytearray and
# memoryview). Reports what it found as JSON.
import io
import json
import signal
import sys
import urllib.parse


def attempt(fn):
    try:
        return repr(fn())
    except BaseException as e:  # noqa: B902 - report whatever the server raised
        return "%s: %s" % (type(e).__name__, e)


def describe(stream):
    return {
        "name": attempt(lambda: stream.name),
        "encoding": attempt(lambda: stream.encoding),
        "errors": attempt(lambda: stream.errors),
        "line_buffering": attempt(lambda: stream.line_buffering),
        "text_io": isinstance(stream, io.TextIOBase),
        "isatty": attempt(stream.isatty),
        "writable": attempt(stream.writable),
        "fileno": attempt(stream.fileno).split(":")[0],
        "has_buffer": hasattr(stream, "buffer"),
        "write_bytes": attempt(lambda: stream.write(b"x")).split(":")[0],
        "flush": attempt(stream.flush),
    }


def handler(signum, frame):
    pass


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    report = {}
    if "print" in query:
        report["print"] = attempt(lambda: print(query["print"][0]))
    if "stderr" in query:
        report["stderr"] = attempt(lambda: sys.stderr.write(query["stderr"][0] + "\n"))
    if "errors" in query:
        report["errors"] = attempt(lambda: environ["wsgi.errors"].write(query["errors"][0] + "\n"))
    if "errors-bytes" in query:
        text = query["errors-bytes"][0].encode()
        buffer = environ["wsgi.errors"].buffer
        report["errors-bytes"] = [
            attempt(lambda: buffer.write(text + b" as bytes\n")),
            attempt(lambda: buffer.write(bytearray(text + b" as bytearray\n"))),
            attempt(lambda: buffer.write(memoryview(text + b" as memoryview\n"))),
            attempt(lambda: buffer.writelines([text, bytearray(b" by "), memoryview(b"writelines\n")])),
        ]
    if "streams" in query:
        report["stdout"] = describe(sys.stdout)
        report["stderr"] = describe(sys.stderr)
        report["wsgi.errors"] = describe(environ["wsgi.errors"])
        report["stdin"] = attempt(lambda: sys.stdin.read())
        before = signal.getsignal(signal.SIGUSR2)
        report["signal"] = attempt(lambda: signal.signal(signal.SIGUSR2, handler)).split(":")[0]
        report["signal_installed"] = signal.getsignal(signal.SIGUSR2) is handler
        if report["signal_installed"]:
            signal.signal(signal.SIGUSR2, before)
    if "prefix" in query:
        report.update(prefix=sys.prefix, exec_prefix=sys.exec_prefix, base_prefix=sys.base_prefix,
                      executable=sys.executable)
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
