"""The gantry-status page (issue 14, docs/status-page.md): `SetHandler gantry-status` shows
every daemon group from the shared-memory scoreboards the daemons write. The numbers match
what the test did (requests counted across a recycle, the recycle's cause, a growth record
naming its URL, a slow request in flight with its URL, a failure by cause, requests waiting
in the queue); the three formats (JSON, Prometheus text parsed by prometheus_client, HTML
read back from headless Chromium's DOM and screenshot); GET/HEAD only; an embedded-only
server says it has no daemon groups; and a hostile application that scribbles over its own
scoreboard can neither crash the page nor change what it says about another group, nor
reach any other process's status memory. Both MPMs."""
import html.parser
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

import daemon_procs
import harness

pytestmark = pytest.mark.gantry_only  # the handler, its formats and the scoreboard are Gantry's

STATUS_LOCATION = """
<Location /gantry-status>
  SetHandler gantry-status
  Require local
</Location>
"""

apache = harness.server("""
WSGIDaemonProcess web processes=2 threads=4
WSGIDaemonProcess recycled processes=1 threads=1 maximum-requests=3
WSGIDaemonProcess grower processes=1 threads=1 memory-growth-log=32M
WSGIDaemonProcess narrow processes=1 threads=1
WSGIDaemonProcess hostile processes=1 threads=2
WSGIScriptAlias /web @APPS@/status_page.wsgi process-group=web application-group=%{GLOBAL}
WSGIScriptAlias /recycled @APPS@/status_page.wsgi process-group=recycled application-group=%{GLOBAL}
WSGIScriptAlias /grower @APPS@/status_page.wsgi process-group=grower application-group=%{GLOBAL}
WSGIScriptAlias /narrow @APPS@/status_page.wsgi process-group=narrow application-group=%{GLOBAL}
WSGIScriptAlias /hostile @APPS@/status_page.wsgi process-group=hostile application-group=%{GLOBAL}
WSGIScriptAlias /embedded @APPS@/status_page.wsgi application-group=%{GLOBAL}
<Location /open-status>
  SetHandler gantry-status
</Location>
""" + STATUS_LOCATION)

GROUPS = {"web", "recycled", "grower", "narrow", "hostile"}


def status(apache):
    return apache.get_json("/gantry-status?json")


def group_of(page, name):
    groups = {g["name"]: g for g in page["groups"]}
    return groups[name]


def wait_for(what, probe, timeout=20.0):
    """Polls `probe()` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def in_background(apache, path):
    result = {}

    def run():
        result["response"] = apache.get(path)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_every_group_is_listed_with_its_configuration(apache):
    page = wait_for("every process serving", lambda: (
        p := status(apache),
        all(len([x for x in g["processes"] if x["state"] == "serving"]) == g["processes_configured"]
            for g in p["groups"]) and p)[1])
    assert page["daemon_mode"] is True
    assert {g["name"] for g in page["groups"]} == GROUPS
    web = group_of(page, "web")
    assert (web["processes_configured"], web["threads"]) == (2, 4)
    for proc in web["processes"]:
        assert proc["pid"] > 0 and proc["uptime_seconds"] >= 0
        assert proc["rss_bytes"] > 0 or proc["requests_served"] == 0
    assert group_of(page, "narrow")["queue"]["backlog_limit"] > 0


def test_each_groups_template_is_shown_with_its_own_memory(apache):
    # Every group has a template (docs/template.md) its processes are forked from: the page
    # shows its pid and state, and its RSS, PSS and USS - what the processes share with it.
    page = wait_for("every template ready", lambda: (
        p := status(apache), all(g["template"] and g["template"]["state"] == "ready" for g in p["groups"]) and p)[1])
    for g in page["groups"]:
        t = g["template"]
        assert daemon_procs.cmdline(t["pid"]) == f"(wsgi:{g['name']}) template", (g["name"], t)
        assert daemon_procs.status(t["pid"])["PPid"] == str(apache.pid)
        # Figures as the kernel gives them (the parent samples every 5 s; they hardly move).
        kib = daemon_procs.smaps_rollup(t["pid"])
        assert 0 < t["uss_bytes"] <= t["pss_bytes"] <= t["rss_bytes"], t
        assert abs(t["rss_bytes"] / 1024 - kib["Rss"]) < 0.5 * kib["Rss"], (t, kib)
        assert t["uptime_seconds"] >= 0
        # Its processes share most of it: each one's PSS is well below its RSS.
        for proc in g["processes"]:
            assert proc["state"] != "serving" or proc["pss_bytes"] == 0 or proc["pss_bytes"] < proc["rss_bytes"]
    # The same figures in the other formats.
    prom = apache.get("/gantry-status?prometheus").text
    web = group_of(page, "web")["template"]
    assert f'gantry_template_unique_memory_bytes{{group="web",pid="{web["pid"]}"}}' in prom
    html_page = apache.get("/gantry-status").text
    assert f'<p class="template" data-pid="{web["pid"]}">' in html_page


def test_requests_are_counted_per_process_and_group(apache):
    before = group_of(status(apache), "web")
    served = {}
    for _ in range(17):
        pid = apache.get_json("/web/pid")["pid"]
        served[pid] = served.get(pid, 0) + 1
    after = group_of(status(apache), "web")
    assert after["totals"]["requests"] == before["totals"]["requests"] + 17
    by_pid = {p["pid"]: p for p in after["processes"]}
    old = {p["pid"]: p["requests_served"] for p in before["processes"]}
    for pid, n in served.items():
        assert by_pid[pid]["requests_served"] == old.get(pid, 0) + n, (pid, after)
        assert by_pid[pid]["rss_bytes"] > 0 and by_pid[pid]["peak_rss_bytes"] >= by_pid[pid]["rss_bytes"]


def test_a_forced_recycle_appears_with_its_cause(apache):
    # maximum-requests=3: the 3rd request ends the first process; a 4th goes to its successor.
    first = [apache.get_json("/recycled/pid")["pid"] for _ in range(4)]
    assert len(set(first)) == 2, first
    group = wait_for("the recycle counted", lambda: (
        g := group_of(status(apache), "recycled"),
        g["totals"]["recycles"]["maximum_requests"] >= 1 and g["totals"]["restarts"] >= 1
        and any("maximum-requests" in (p["last_exit"] or "") for p in g["processes"]) and g)[1])
    # Requests are counted across the recycle: both processes' requests are in the total.
    assert group["totals"]["requests"] == 4, group["totals"]
    assert first[0] not in {p["pid"] for p in group["processes"]}
    # The successor serves with the configured limit (a spare forked since then has none yet).
    successor = next(p for p in group["processes"] if p["pid"] == first[-1])
    assert successor["maximum_requests"] == 3, group["processes"]


def test_a_growth_record_names_the_url(apache):
    pid = apache.get_json("/grower/grow?from=status-test")["pid"]
    row = wait_for("the growth record", lambda: next(
        (r for r in status(apache)["memory_growth"] if r["url"] == "/grower/grow?from=status-test"), None))
    assert (row["group"], row["pid"], row["method"]) == ("grower", pid, "GET")
    assert row["growth_bytes"] >= 90 * 1024 * 1024, row
    assert row["rss_after_bytes"] - row["rss_before_bytes"] == row["growth_bytes"]
    proc = next(p for p in group_of(status(apache), "grower")["processes"] if p["pid"] == pid)
    assert proc["peak_rss_bytes"] >= row["rss_after_bytes"]


def test_a_slow_request_is_shown_in_flight_with_its_url(apache):
    thread, result = in_background(apache, "/web/sleep?s=4&marker=inflight")

    def running():
        for proc in group_of(status(apache), "web")["processes"]:
            for r in proc["requests"]:
                if r["url"] == "/web/sleep?s=4&marker=inflight":
                    return proc, r
        return None
    proc, request = wait_for("the request in flight", running)
    assert request["method"] == "GET" and 0 <= request["running_seconds"] < 30
    later = wait_for("its running time growing", lambda: (
        r := running(), r and r[1]["running_seconds"] > request["running_seconds"] and r)[1])
    assert later[0]["pid"] == proc["pid"]
    page = apache.get("/gantry-status").text
    assert '<code class="url">/web/sleep?s=4&amp;marker=inflight</code>' in page
    thread.join(30)
    assert result["response"].status == 200
    wait_for("the request gone from the page", lambda: running() is None)


@pytest.mark.log_ids(*harness.ids("app_exception"))
def test_failed_requests_are_counted_by_cause(apache):
    before = group_of(status(apache), "web")["totals"]["failed"]["application_error"]
    assert apache.get("/web/fail").status == 500
    after = group_of(status(apache), "web")["totals"]
    assert after["failed"]["application_error"] == before + 1
    assert set(after["failed"]) == {"application_error", "aborted", "connection_lost", "refused",
                                    "queue_timeout", "request_timeout", "internal_error"}


def test_requests_waiting_for_a_thread_are_the_queue(apache):
    # One process with one thread: while it sleeps, the other requests wait in its socket.
    assert group_of(status(apache), "narrow")["queue"]["waiting"] == 0
    jobs = [in_background(apache, f"/narrow/sleep?s=5&n={i}") for i in range(3)]
    seen = wait_for("requests in the queue",
                    lambda: group_of(status(apache), "narrow")["queue"]["waiting"] or None)
    assert 1 <= seen <= 2
    for thread, result in jobs:
        thread.join(60)
        assert result["response"].status == 200
    group = wait_for("the queue empty again", lambda: (
        g := group_of(status(apache), "narrow"), g["queue"]["waiting"] == 0 and g)[1])
    assert group["queue"]["wait_seconds_max"] >= 2.0  # the last one waited for two others


def test_only_get_and_head_are_served(apache):
    r = apache.request("POST", "/gantry-status", body=b"x")
    assert r.status == 405
    assert "GET" in (r.header("Allow") or ""), r.headers
    assert apache.request("DELETE", "/gantry-status?json").status == 405
    head = apache.request("HEAD", "/gantry-status?json")
    assert head.status == 200 and head.body == b""
    # Access is Apache's: without Require the handler serves anyone (docs: never do that).
    assert apache.get("/open-status?json").status == 200


def test_prometheus_exposition_parses_and_matches_json(apache):
    from prometheus_client.parser import text_string_to_metric_families
    for _ in range(3):
        apache.get_json("/web/pid")
    r = apache.get("/gantry-status?prometheus")
    assert r.status == 200 and r.header("Content-Type").startswith("text/plain; version=0.0.4")
    page = status(apache)
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = {s.labels["group"]: s.value for s in families["gantry_requests"].samples
                if s.name == "gantry_requests_total"}
    assert requests == {g["name"]: g["totals"]["requests"] for g in page["groups"]}
    assert families["gantry_requests"].type == "counter"
    rss = {(s.labels["group"], int(s.labels["pid"])): s.value
           for s in families["gantry_process_resident_memory_bytes"].samples}
    expected = {(g["name"], p["pid"]) for g in page["groups"] for p in g["processes"]}
    assert set(rss) == expected
    recycles = {(s.labels["group"], s.labels["cause"]): s.value for s in families["gantry_recycles"].samples}
    for g in page["groups"]:
        for cause, n in g["totals"]["recycles"].items():
            assert recycles[(g["name"], cause)] == n
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=r.body, capture_output=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr


class _ProcessRows(html.parser.HTMLParser):
    """{pid: {class: text}} of the page's process rows, from the DOM Chromium dumps."""

    def __init__(self):
        super().__init__()
        self.rows, self._pid, self._cells, self.no_groups = {}, None, [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "process" in classes:
            self._pid = int(a["data-pid"])
            self.rows[self._pid] = {}
        elif tag == "td" and self._pid is not None and classes:
            self._cells = classes
            for c in classes:
                self.rows[self._pid][c] = ""
        elif a.get("id") == "no-groups":
            self.no_groups = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._cells = []
        elif tag == "tr":
            self._pid = None

    def handle_data(self, data):
        if self._pid is not None:
            for c in self._cells:
                self.rows[self._pid][c] += data


def chromium(url, screenshot=None):
    """The DOM of `url` as headless Chromium (Debian's) renders it; a screenshot if asked."""
    binary = shutil.which("chromium")
    if not binary:
        pytest.fail("chromium is not installed (scripts/install-deps.sh installs it)")
    profile = tempfile.mkdtemp(prefix="gantry-status-chromium-")
    try:
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1400,900"]
        if screenshot:
            shot = subprocess.run(args + [f"--screenshot={screenshot}", url], capture_output=True, timeout=180)
            assert shot.returncode == 0, shot.stderr.decode(errors="replace")
        dom = subprocess.run(args + ["--dump-dom", url], capture_output=True, timeout=180)
        assert dom.returncode == 0, dom.stderr.decode(errors="replace")
        return dom.stdout.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_html_page_in_headless_chromium_matches_json(apache, tmp_path):
    for _ in range(4):
        apache.get_json("/web/pid")
    # Two samples at least, so every serving process draws its RSS line.
    wait_for("a second RSS sample", lambda: all(
        len(p["rss_history"]) >= 2 for p in group_of(status(apache), "web")["processes"]), timeout=30)
    shot = tmp_path / "status.png"
    dom = chromium(apache.url("/gantry-status"), screenshot=str(shot))
    page = status(apache)  # nothing served in between: the counts are the DOM's
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 900)
    rows = _ProcessRows()
    rows.feed(dom)
    expected = {p["pid"]: p for g in page["groups"] for p in g["processes"]}
    assert set(rows.rows) == set(expected), (rows.rows, expected)
    for pid, proc in expected.items():
        row = rows.rows[pid]
        assert int(row["requests-served"]) == proc["requests_served"], (pid, row, proc)
        assert row["state"].startswith(proc["state"])
        assert int(row["restarts"]) == proc["restarts"]
    assert dom.count("<polyline") >= len(group_of(page, "web")["processes"])
    assert "<script" not in dom and "http://" not in dom.replace(apache.url(""), "")


def test_the_page_does_not_talk_to_the_daemons(apache):
    # While every thread of `narrow` is busy, the page still answers at once.
    thread, result = in_background(apache, "/narrow/sleep?s=3")
    wait_for("narrow busy", lambda: any(p["requests"] for p in group_of(status(apache), "narrow")["processes"]))
    start = time.monotonic()
    for fmt in ("", "?json", "?prometheus"):
        assert apache.get("/gantry-status" + fmt).status == 200
    assert time.monotonic() - start < 2.5
    thread.join(30)


def test_processes_reach_only_their_own_status_memory(apache):
    # A daemon process maps its own board, writable, and nothing else of the status memory.
    reach = apache.get_json("/web/reach")
    assert reach["mappings"] == ["rw-s"], reach
    assert reach["fds"] == [], reach
    # An Apache child (an embedded app runs in one): every board read-only, no descriptor
    # that could write one, and no mapping that mprotect() can make writable.
    embedded = apache.get_json("/embedded/reach")
    assert embedded["mappings"] and set(embedded["mappings"]) == {"r--s"}, embedded
    assert embedded["fds"] == [], embedded
    assert embedded["upgraded"] and not any(embedded["upgraded"]), embedded


def test_a_hostile_application_cannot_break_the_page_or_lie_about_others(apache):
    from prometheus_client.parser import text_string_to_metric_families
    def others(page):
        return {name: (group_of(page, name)["totals"],
                       [(p["pid"], p["requests_served"]) for p in group_of(page, name)["processes"]])
                for name in GROUPS - {"hostile"}}

    def settled():  # earlier tests' recycles finished: two reads a moment apart agree
        first = status(apache)
        time.sleep(0.5)
        return others(first) == others(status(apache)) and first
    before = wait_for("the other groups settled", settled)
    scribbled = apache.get_json("/hostile/scribble")
    assert scribbled.get("scribbled", 0) > 0
    for _ in range(3):
        after = status(apache)
        assert others(after) == others(before)
        hostile = group_of(after, "hostile")
        for proc in hostile["processes"]:
            assert proc["state"] in {"spare", "starting", "serving", "draining"}
            assert 0 < proc["pid"] <= 4194304
            for r in proc["requests"]:
                assert all(32 <= ord(c) < 127 for c in r["method"] + r["url"])
        list(text_string_to_metric_families(apache.get("/gantry-status?prometheus").text))
        assert apache.get("/gantry-status").status == 200
        json.dumps(after)


@pytest.fixture(scope="module")
def embedded_only(mpm):
    with harness.running(harness.Apache("WSGIScriptAlias /app @APPS@/hello.wsgi\n" + STATUS_LOCATION,
                                        mpm=mpm)) as server:
        yield server


def test_an_embedded_only_server_says_it_has_no_daemon_groups(embedded_only):
    page = embedded_only.get_json("/gantry-status?json")
    assert page["groups"] == [] and page["daemon_mode"] is False
    assert 'id="no-groups"' in embedded_only.get("/gantry-status").text
    assert "gantry_daemon_groups 0" in embedded_only.get("/gantry-status?prometheus").text
