"""A bounded concurrent client for the daemon lifecycle tests: a few threads send requests
back to back and record, for every request, its status (or the socket error), the pid of the
daemon process that answered and how long it took. Stdlib only."""
from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time


@dataclasses.dataclass
class LoadResult:
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    pids: set[int] = dataclasses.field(default_factory=set)
    latencies: list[float] = dataclasses.field(default_factory=list)
    requests: int = 0

    @property
    def failures(self) -> int:
        return len(self.errors) + sum(n for s, n in self.statuses.items() if not 200 <= s < 300)

    @property
    def max_latency(self) -> float:
        return max(self.latencies, default=0.0)

    def summary(self) -> str:
        return (f"{self.requests} requests, {len(self.pids)} pids, {self.failures} failed "
                f"(statuses {self.statuses}, errors {self.errors[:5]}), max latency "
                f"{self.max_latency * 1000:.0f} ms")


def run_load(port: int, path: str, threads: int, until, max_seconds: float,
             keep_alive: bool = True) -> LoadResult:
    """Sends GET `path` from `threads` threads until `until(result)` is true or
    `max_seconds` pass. The answer must be the lifecycle app's JSON. With `keep_alive`
    each thread reuses its connection (reconnecting after an error); without, every request
    has its own (so Apache closing idle connections on a graceful restart, a race every
    HTTP client retries on its own, is not counted as a failure)."""
    result = LoadResult()
    lock = threading.Lock()
    stop = threading.Event()
    deadline = time.monotonic() + max_seconds

    def worker():
        conn = None
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                status = r.status
                pid = json.loads(body)["pid"] if status == 200 else None
                error = None
            except Exception as e:  # every socket or protocol error is a failed request
                status, pid, error = None, None, f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            if not keep_alive and conn is not None:
                conn.close()
                conn = None
            elapsed = time.monotonic() - started
            with lock:
                result.requests += 1
                result.latencies.append(elapsed)
                if error:
                    result.errors.append(error)
                else:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                if pid:
                    result.pids.add(pid)
                if until(result):
                    stop.set()
        if conn is not None:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(max_seconds + 30)
    return result
