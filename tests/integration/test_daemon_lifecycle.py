"""Daemon process recycling (issue 4): maximum-requests (+ jitter) and maximum-memory replace a
process after a request, gracefully, and a client never sees it - not even with a single
process in the group, under continuous concurrent load. Both MPMs: the Apache child's side of
a recycle (connecting while the process is replaced) runs in the MPM's threads or processes."""
import re

import pytest

import harness
from lifecycle_load import run_load

pytestmark = pytest.mark.gantry_only  # maximum-memory, jitter and the log ids are Gantry's

apache = harness.server("""
WSGIDaemonProcess one processes=1 threads=4 maximum-requests=20
WSGIDaemonProcess three processes=3 threads=2 maximum-requests=20
WSGIDaemonProcess exact processes=1 threads=1 maximum-requests=5
WSGIDaemonProcess jitter processes=8 threads=1 maximum-requests=3 maximum-requests-jitter=4
WSGIDaemonProcess mem processes=1 threads=1 maximum-memory=250M memory-growth-log=64M
WSGIScriptAlias /one @APPS@/lifecycle.wsgi process-group=one application-group=%{GLOBAL}
WSGIScriptAlias /three @APPS@/lifecycle.wsgi process-group=three application-group=%{GLOBAL}
WSGIScriptAlias /exact @APPS@/lifecycle.wsgi process-group=exact application-group=%{GLOBAL}
WSGIScriptAlias /jitter @APPS@/lifecycle.wsgi process-group=jitter application-group=%{GLOBAL}
WSGIScriptAlias /mem @APPS@/lifecycle.wsgi process-group=mem application-group=%{GLOBAL}
""")


def pid_of(apache, path):
    r = apache.get(path)
    assert r.status == 200, r.text
    return r.json()["pid"]


def runs_of(pids):
    """Lengths of the runs of equal consecutive pids."""
    runs, count = [], 1
    for a, b in zip(pids, pids[1:]):
        if a == b:
            count += 1
        else:
            runs.append(count)
            count = 1
    return runs


def test_maximum_requests_replaces_the_process_after_n_requests(apache):
    # The group's first process (no request before this test) serves exactly 5 requests;
    # its standby, ready since start-up, serves the 6th. A process that reaches the limit
    # before its own standby is ready (the parent forks it within about a second) keeps
    # serving until it is: so later runs are at least 5.
    pids = [pid_of(apache, "/exact/pid") for _ in range(16)]
    runs = runs_of(pids)
    assert runs[0] == 5, pids
    assert all(n >= 5 for n in runs[1:]), pids
    assert len(set(pids)) >= 2


def test_maximum_requests_jitter_draws_a_limit_per_process(apache):
    # Each of the 8 processes draws its limit in [3, 3+4] and names it when ready; drawn
    # per process, they differ (all 8 equal has odds 5 * (1/5)^8).
    apache.wait_for_log(r"(?s)(GANTRY0203: daemon process ready: group jitter,.*){8}")
    limits = [int(m) for m in re.findall(r"GANTRY0203: daemon process ready: group jitter, .*"
                                         r"maximum-requests (\d+)", apache.log_text())]
    assert len(limits) >= 8, limits
    assert all(3 <= n <= 7 for n in limits), limits
    assert len(set(limits)) > 1, limits
    # And they recycle: over 40 requests at least one process is replaced.
    for _ in range(40):
        pid_of(apache, "/jitter/pid")
    apache.wait_for_log(r"GANTRY0204: daemon process exiting: group jitter, .*maximum-requests")


@pytest.mark.parametrize("group,processes", [("one", 1), ("three", 3)])
def test_recycling_under_load_fails_no_request(apache, group, processes):
    # maximum-requests=20: at least 25 recycles while 4 client threads send requests back to
    # back. Not one request may fail, whether or not the group has a spare process.
    recycles = lambda result: len(result.pids) - processes  # noqa: E731
    result = run_load(apache.port, f"/{group}/pid", threads=4,
                      until=lambda r: recycles(r) >= 26, max_seconds=60)
    print(f"\n{apache.mpm} {group}: {result.summary()}")
    assert recycles(result) >= 25, result.summary()
    assert result.failures == 0, result.summary()


def test_maximum_memory_recycles_after_the_request_that_crossed_it(apache):
    since = apache.log_size()
    pid = pid_of(apache, "/mem/pid")
    # Each /grow keeps 100 MB: the process's USS (what maximum-memory compares) crosses 250M
    # at the 2nd or 3rd call and it is replaced after that request, which still succeeds.
    # The loop stops on the USS the app itself saw, not RSS: under ASan the shadow memory
    # makes RSS cross 250M a call before USS does.
    pids = []
    for _ in range(4):
        r = apache.get("/mem/grow")
        assert r.status == 200
        pids.append(r.json()["pid"])
        if r.json()["uss"] > 250 * 1024 * 1024:
            break
    assert set(pids) == {pid}
    pattern = rf"GANTRY0211: [^\n]*group mem, pid {pid}, [^\n]*GET /mem/grow[^\n]*"
    line = re.search(pattern, apache.wait_for_log(pattern, since)).group(0)
    # Measured on what the process alone holds (USS), with RSS and PSS next to it.
    assert re.search(r"USS \d+\.\d MiB > 250\.0 MiB \(RSS \d+\.\d MiB, PSS \d+\.\d MiB, USS", line)
    after = pid_of(apache, "/mem/pid")
    assert after != pid
    # The replacement starts back at its base size.
    assert apache.get("/mem/pid").json()["rss"] < 100 * 1024 * 1024


def test_memory_growth_names_the_url(apache):
    since = apache.log_size()
    pid = pid_of(apache, "/mem/pid")
    assert apache.get("/mem/grow").status == 200
    line = apache.wait_for_line(
        lambda l: "GANTRY0210" in l.message and f"pid {pid}," in l.message, since,
        what="memory growth line")
    assert line.level == "notice"
    assert "GET /mem/grow raised the peak RSS by" in line.message
