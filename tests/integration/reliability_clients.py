"""Clients for the reliability-checklist tests: requests running in the background while a
test does something else, and raw connections that send slowly. Every wait has a deadline;
nothing here sleeps in place of a condition (the slow senders' pauses are their pace)."""
from __future__ import annotations

import json
import socket
import threading
import time

import harness


class Request:
    """One GET on a thread of its own, started at once; status/body/elapsed once done."""

    def __init__(self, apache: "harness.Apache", path: str, timeout: float = 60.0):
        self.path = path
        self.status: int | None = None
        self.body = b""
        self.error: BaseException | None = None
        self.elapsed = 0.0
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(apache, timeout), daemon=True)
        self._started = time.monotonic()
        self._thread.start()

    def _run(self, apache, timeout):
        try:
            r = self._get(apache, timeout)
            self.status, self.body = r.status, r.body
        except BaseException as e:  # reported by wait()
            self.error = e
        finally:
            self.elapsed = time.monotonic() - self._started
            self._finished.set()

    def _get(self, apache, timeout):
        conn = apache.connection(timeout=timeout)
        try:
            return apache.request("GET", self.path, conn=conn)
        finally:
            conn.close()

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float) -> "Request":
        if not self._finished.wait(timeout):
            raise AssertionError(f"GET {self.path} still unanswered after {timeout} s")
        self._thread.join()
        if self.error is not None:
            raise AssertionError(f"GET {self.path} failed: {self.error!r}")
        return self

    def json(self):
        return json.loads(self.body)


def wait_finished(requests: list[Request], count: int, timeout: float) -> list[Request]:
    """Waits until at least `count` of `requests` are answered; returns those answered."""
    deadline = time.monotonic() + timeout
    while True:
        finished = [r for r in requests if r.done()]
        if len(finished) >= count:
            return [r.wait(0) for r in finished]
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(finished)} of {len(requests)} requests answered "
                                 f"within {timeout} s, expected {count}")
        time.sleep(0.02)


class Trickle:
    """Connections that each send `head` at once and then `trickle` one byte every `pace`
    seconds (the attack's own rate), all driven by one thread: a slowloris (a head that
    never ends) or a slow request body (a head with a Content-Length, then the body). Each
    connection stops sending once the server answers or closes; `limit` bounds the whole
    run. Results per connection: what came back, whether and when (seconds after its
    connect) the server closed it or answered."""

    def __init__(self, apache: "harness.Apache", heads: list[bytes], trickle: bytes,
                 pace: float, limit: float):
        self.pace, self.limit, self.trickle = pace, limit, trickle
        self.sockets: list[socket.socket] = []
        self.received: list[bytearray] = []
        self.sent: list[int] = []
        self.connected_at: list[float] = []
        self.answered_after: list[float | None] = []
        self.closed_after: list[float | None] = []
        for head in heads:
            s = socket.create_connection(("127.0.0.1", apache.port), timeout=10)
            s.sendall(head)
            s.setblocking(False)
            self.sockets.append(s)
            self.connected_at.append(time.monotonic())
            self.received.append(bytearray())
            self.sent.append(0)
            self.answered_after.append(None)
            self.closed_after.append(None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _open(self) -> list[int]:
        return [i for i, at in enumerate(self.closed_after) if at is None]

    def _read(self, i: int, now: float) -> None:
        s = self.sockets[i]
        while True:
            try:
                data = s.recv(65536)
            except BlockingIOError:
                return
            except OSError:  # reset
                data = b""
            if not data:
                self.closed_after[i] = now - self.connected_at[i]
                s.close()
                return
            if self.answered_after[i] is None:
                self.answered_after[i] = now - self.connected_at[i]
            self.received[i] += data

    def _run(self) -> None:
        import selectors
        end = time.monotonic() + self.limit
        next_send = time.monotonic() + self.pace
        with selectors.DefaultSelector() as sel:
            for i, s in enumerate(self.sockets):
                sel.register(s, selectors.EVENT_READ, i)
            while not self._stop.is_set() and self._open() and time.monotonic() < end:
                for key, _ in sel.select(timeout=max(0.0, next_send - time.monotonic())):
                    self._read(key.data, time.monotonic())
                    if self.closed_after[key.data] is not None:
                        sel.unregister(key.fileobj)
                if time.monotonic() < next_send:
                    continue
                next_send += self.pace
                for i in self._open():
                    if self.answered_after[i] is None and self.sent[i] < len(self.trickle):
                        try:
                            self.sockets[i].send(self.trickle[self.sent[i]:self.sent[i] + 1])
                            self.sent[i] += 1
                        except OSError:
                            pass  # the server closed it: the read side records that
        for i in self._open():
            self.sockets[i].close()

    def wait(self) -> "Trickle":
        """Until every connection was closed by the server, or `limit` passed."""
        self._thread.join(self.limit + 10)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def responses(self) -> list["harness.RawResponse"]:
        return [harness.parse_raw_response(bytes(data), at is not None)
                for data, at in zip(self.received, self.closed_after)]
