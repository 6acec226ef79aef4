"""Bounded, continuous HTTP load for the scale-out test: N threads, each with one keep-alive
connection, GET the URL back to back until stdin closes; then one JSON line on stdout:
{"ok": n, "failed": n, "errors": [first few], "bodies": {first line of body: count}}.
A failure is any non-200 or connection error - the client does not retry (a load balancer
may, that is its job). Run inside the load balancer's network namespace."""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url = urllib.parse.urlsplit(sys.argv[1])
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
stop = threading.Event()
lock = threading.Lock()
totals = {"ok": 0, "failed": 0, "errors": [], "bodies": {}}


def worker():
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            conn.request("GET", url.path or "/")
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            if resp.will_close:
                conn.close()
                conn = None
            outcome = resp.status == 200
            detail = body.split("\n", 1)[0] if outcome else f"{resp.status} {body[:200]}"
        except (OSError, http.client.HTTPException) as e:
            if conn is not None:
                conn.close()
            conn = None
            outcome, detail = False, f"{time.strftime('%H:%M:%S')} {type(e).__name__}: {e}"
        with lock:
            if outcome:
                totals["ok"] += 1
                totals["bodies"][detail] = totals["bodies"].get(detail, 0) + 1
            else:
                totals["failed"] += 1
                if len(totals["errors"]) < 20:
                    totals["errors"].append(detail)


workers = [threading.Thread(target=worker) for _ in range(threads)]
for w in workers:
    w.start()
print("started", flush=True)
sys.stdin.read()
stop.set()
for w in workers:
    w.join()
print(json.dumps(totals), flush=True)
