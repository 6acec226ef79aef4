#!/usr/bin/env python3
"""Reproduces httpd's event-MPM race at stop (tests/integration/httpd_stop_race.py) and
shows what the test harness makes of each crash.

Runs an event-MPM Apache through the integration harness RUNS times; each time loopback
clients (more than ThreadsPerChild, so the MPM's pool of recycled connection pools is full
and closing connections destroy theirs) make requests until the harness stops Apache with
SIGTERM at a random moment under that load. By default no WSGI module is loaded at all
(--module none): any crash is httpd's. --module gantry|mod_wsgi serves a WSGI hello app.

  python3 scripts/httpd-stop-race.py --runs 40            # ~1-2 min; httpd crashed in 7 of 40
  python3 scripts/httpd-stop-race.py --module gantry --runs 40

Prints one line per run and a summary: crashes the harness attributed to httpd's race
(reported as KnownHttpdCrash warnings, the stop passes) and stops that failed otherwise.
Each run's clients are bounded (CLIENT_SECONDS) and talk only to 127.0.0.1.
"""
import argparse
import os
import random
import socket
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
import harness  # noqa: E402
import httpd_stop_race  # noqa: E402

CLIENT_SECONDS = 5.0
APP = ("def application(environ, start_response):\n"
       "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
       "    return [b'hello\\n' * 100]\n")


def hammer(port: int, until: float) -> None:
    """Requests on fresh connections (a few keep-alive, then maybe Connection: close) until
    `until`; errors (Apache stopping) just start the next connection."""
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                for _ in range(random.randint(1, 3)):
                    s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
                    s.recv(65536)
                if random.random() < 0.5:
                    s.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        except OSError:
            time.sleep(0.01)


def one_run(module: str, clients: int) -> tuple[int, str | None]:
    """(crashes attributed to httpd's race, the stop's failure or None)."""
    if module == "none":
        apache = harness.Apache("Alias /x @ROOT@/htdocs/x.txt", mpm="event", load_wsgi=False,
                                name="stop-race")
        apache.add_file("htdocs/x.txt", "hello\n" * 100)
    else:
        apache = harness.Apache("WSGIScriptAlias /x @ROOT@/app.wsgi", mpm="event",
                                module=module, name="stop-race", files={"app.wsgi": APP})
    failure = None
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        apache.start()
        until = time.monotonic() + CLIENT_SECONDS
        threads = [threading.Thread(target=hammer, args=(apache.port, until))
                   for _ in range(clients)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.3, 1.0))  # a random moment under load: the point of the tool
        try:
            apache.stop()
        except harness.ApacheError as e:
            failure = str(e)
        for t in threads:
            t.join()
    known = [w for w in seen if issubclass(w.category, httpd_stop_race.KnownHttpdCrash)]
    for w in known:
        print(f"  {w.message}")
    if failure is None:
        apache.cleanup()
    return len(known), failure


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", choices=("none", "gantry", "mod_wsgi"), default="none")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (Apache's User www-data, like the integration tests)", file=sys.stderr)
        return 2
    crashed = failed = 0
    for run in range(args.runs):
        known, failure = one_run(args.module, args.clients)
        crashed += known > 0
        failed += failure is not None
        print(f"run {run}: httpd race crashes {known}"
              + (f"; STOP FAILED: {failure[:2000]}" if failure else ""), flush=True)
    print(f"module={args.module}: {args.runs} stops, {crashed} with httpd's race (recognised), "
          f"{failed} failed otherwise")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
