"""Reliability checklist R11: slowloris. 100 connections send a request head one byte every
half second and never finish it. Apache's mod_reqtimeout (`RequestReadTimeout header=3-5,
MinRate=500`, Debian's default `header=20-40,MinRate=500` scaled down) cuts each of them
(408, or closed) a few seconds after it began; normal requests are served all the while,
and the application - in a daemon group - never sees an attacker's request: Gantry hands a
request over only once Apache has read its whole head.

Scaled from the checklist's 1,000 connections at 1 byte/10 s held for minutes: CI has
neither the time nor the processes for that (prefork would need a thousand children). What
is tested is the same mechanism at a size CI affords: every attacker holds an Apache worker
(thread or process) until the header timeout, so the MPMs are given 110-128 workers here and
the attack 100 connections; normal requests use the workers left. Apache's children run no
Python (WSGIRestrictEmbedded On), so 110 prefork children stay cheap.

Without mod_reqtimeout (or with `header=0`) the attackers are never cut: Apache's Timeout
restarts at every byte, and this test fails waiting for them."""
import time
from pathlib import Path

import harness
import reliability_clients as clients

ATTACKERS = 100
PACE = 0.5
HEADER_TIMEOUT, HEADER_TIMEOUT_MAX = 3.0, 5.0

CONFIG = f"""
RequestReadTimeout header={HEADER_TIMEOUT:.0f}-{HEADER_TIMEOUT_MAX:.0f},MinRate=500 body=10
WSGIRestrictEmbedded On
WSGIDaemonProcess app processes=1 threads=2 display-name=%{{GROUP}}
WSGIScriptAlias / @APPS@/reliability.wsgi process-group=app application-group=%{{GLOBAL}}
SetEnv GANTRY_STATE @STATE@
<IfModule mpm_event_module>
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
StartServers 2
MinSpareThreads 8
MaxSpareThreads 128
MaxRequestWorkers 128
</IfModule>
<IfModule mpm_prefork_module>
StartServers 110
MinSpareServers 110
MaxSpareServers 110
ServerLimit 110
MaxRequestWorkers 110
</IfModule>
"""
apache = harness.server(CONFIG, extra_modules=["reqtimeout"])


def accept_queue(port: int) -> int:
    """Connections waiting in the kernel for Apache to accept them (the listening socket's
    rx_queue in /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # LISTEN
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no listening socket on port {port}")


def seen_paths(apache) -> list[str]:
    path = apache.state / "seen"
    return path.read_text().split() if path.exists() else []


def test_slowloris_is_cut_by_reqtimeout_and_never_reaches_the_app(apache):
    assert apache.get_json("/info")["process_group"] == "app"
    heads = [f"GET /attack-{i} HTTP/1.1\r\nHost: x\r\n".encode() for i in range(ATTACKERS)]
    attack = clients.Trickle(apache, heads, b"X-Slow: " + b"a" * 1000, pace=PACE,
                             limit=HEADER_TIMEOUT_MAX + harness.REQUEST_TIMEOUT)
    try:
        # Every attacker holds a worker: Apache has accepted them all.
        deadline = time.monotonic() + harness.REQUEST_TIMEOUT
        while accept_queue(apache.port) > 0:
            assert time.monotonic() < deadline, "Apache did not accept the attackers"
            time.sleep(0.02)
        # Normal requests are served while every attacker is still connected.
        for _ in range(10):
            assert apache.get_json("/info")["process_group"] == "app"
        still_held = [at is None for at in attack.closed_after]
        assert all(still_held), f"{still_held.count(False)} attackers cut before the check"
        attack.wait()
    finally:
        attack.stop()
    cut = [(r.status, after) for r, after in zip(attack.responses(), attack.closed_after)]
    for i, (status, after) in enumerate(cut):
        assert after is not None, f"attacker {i} was never cut"
        assert status in (None, 408), (i, status)
        assert HEADER_TIMEOUT - 0.5 <= after < HEADER_TIMEOUT_MAX + 10, (i, after)
    # None of them reached the application; a normal request still does.
    assert not [p for p in seen_paths(apache) if p.startswith("/attack")]
    assert apache.get_json("/info")["process_group"] == "app"
