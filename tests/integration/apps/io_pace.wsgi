"""App for the inactivity-timeout tests with requests in flight: a request that blocks without
any I/O, and one that is just as long but streams its response bit by bit.

  /pid                       {"pid": ...}
  /sleep?s=N                 time.sleep(N), then {"pid": ...}: no I/O while it sleeps
  /stream?every=S&n=N        N lines, one every S seconds; each names the pid"""
import json
import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/stream":
        every = float(query.get("every", ["0.5"])[0])
        count = int(query.get("n", ["8"])[0])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _stream(every, count)
    if path == "/sleep":
        time.sleep(float(query.get("s", ["0"])[0]))
    body = json.dumps({"pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _stream(every, count):
    for i in range(count):
        yield f"{i} {os.getpid()}\n".encode()
        time.sleep(every)
