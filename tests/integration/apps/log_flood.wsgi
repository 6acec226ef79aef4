# Writes ?mb=N MiB to wsgi.errors in 1 MiB writes, none with a newline, then one newline;
# answers with its pid and its peak RSS (VmHWM, KiB) before and after.
import os
import urllib.parse


def peak_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    mib = int(query.get("mb", ["1"])[0])
    errors = environ["wsgi.errors"]
    block = "x" * (1024 * 1024)
    before = peak_kib()
    for _ in range(mib):
        errors.write(block)
    errors.write("\n")
    after = peak_kib()
    body = f"{os.getpid()} {before} {after}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
