"""The mod_wsgi Python API (issue 11): what the built-in `mod_wsgi` and `apache` modules give
an application, as mod_wsgi 4.9.4 (and 6.0, where it adds to it) documents and returns it.
Events (subscribe_events: request_started, response_started, request_exception,
request_finished, in that order, with their documented keys), request_data() and
active_requests, process_metrics() / server_metrics() / request_metrics() with mod_wsgi's keys
and value types, and the module attributes. Embedded and daemon mode, both MPMs."""
import json
import re
import subprocess
import time

import pytest

import apache_children
import harness

apache = harness.server("""
WSGIScriptAlias /api @APPS@/modwsgi_api.wsgi application-group=%{GLOBAL}
""")

# Keys each event carries. mod_wsgi 4.9.4's, plus those 6.0 adds that both modes can give.
STARTED_KEYS = {"request_id", "thread_id", "request_data", "request_environ", "application_object",
                "request_start", "queue_start", "daemon_start", "application_start",
                "daemon_connects", "daemon_restarts"}
RESPONSE_KEYS = {"request_id", "request_data", "response_status", "response_headers",
                 "exception_info"}
EXCEPTION_KEYS = {"request_id", "request_data", "exception_info"}
FINISHED_KEYS = {"request_id", "request_data", "application_finish", "application_time",
                 "input_reads", "input_length", "input_time", "output_writes", "output_length",
                 "output_time", "cpu_user_time", "cpu_system_time"}
# mod_wsgi 6.0's additions to request_finished (4.9.4 lacks them).
FINISHED_KEYS_6 = {"thread_id", "request_start", "application_start", "status", "cpu_time"}

# process_metrics() as mod_wsgi 4.9.4 returns it: key -> type.
PROCESS_METRICS_TYPES = {
    "pid": "int", "restart_time": "float", "current_time": "float", "running_time": "int",
    "request_count": "int", "request_busy_time": "float", "memory_max_rss": "int",
    "memory_rss": "int", "cpu_user_time": "float", "cpu_system_time": "float",
    "request_threads": "int", "active_requests": "int",
    "threads": [{"thread_id": "int", "request_count": "int"}],
}
SERVER_METRICS_TOP = {"server_limit": "int", "thread_limit": "int", "running_generation": "int",
                      "restart_time": "float", "current_time": "float", "running_time": "int"}
SERVER_PROCESS = {"process_num": "int", "pid": "int", "generation": "int", "quiescing": "bool"}
SERVER_WORKER = {"thread_num": "int", "generation": "int", "status": "str", "access_count": "int",
                 "bytes_served": "int", "start_time": "float", "stop_time": "float",
                 "last_used": "float", "client": "str", "request": "str", "vhost": "str"}
REQUEST_METRICS_TYPES = {
    "pid": "int", "start_time": "float", "stop_time": "float", "sample_period": "float",
    "request_count": "int", "request_throughput": "float", "request_threads_maximum": "int",
    "request_threads_started": "int", "request_threads_active": "int",
    "capacity_utilization": "float", "server_time": "float", "application_time": "float",
    "cpu_user_time": "float", "cpu_system_time": "float", "memory_max_rss": "int",
    "memory_rss": "int",
}
BUCKETS = ("server_time_buckets", "queue_time_buckets", "daemon_time_buckets",
           "application_time_buckets")


def events_of(apache, request_id, timeout=10.0):
    """What the app recorded for `request_id` (written when request_finished fired, which
    may be just after the client got the response)."""
    path = apache.state / f"events-{request_id.encode().hex()}.json"
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no events recorded for {request_id}"
        time.sleep(0.02)
    entries = json.loads(path.read_text())
    return {e["name"]: e for e in entries}, [e["name"] for e in entries]


def get_json(apache, path, **kw):
    r = apache.get(path, **kw) if "body" not in kw else apache.post(path, **kw)
    assert r.status == 200, r.text
    return r.json()


def test_events_arrive_in_order_with_their_keys(apache, mode):
    info = get_json(apache, "/api/echo", body=b"x" * 1000)
    events, order = events_of(apache, info["request_id"])
    assert order == ["request_started", "response_started", "request_finished"]
    started, response, finished = (events[n] for n in order)
    assert STARTED_KEYS <= set(started["keys"]), started["keys"]
    assert RESPONSE_KEYS <= set(response["keys"]), response["keys"]
    assert FINISHED_KEYS <= set(finished["keys"]), finished["keys"]
    for event in events.values():
        assert event["values"]["request_id"] == info["request_id"]
    assert started["values"]["application_object"] == "function"
    assert started["values"]["request_environ"] == "dict"
    assert started["values"]["thread_id"] >= 0
    assert response["values"]["response_status"] == "200 OK"
    assert response["values"]["exception_info"] is None
    assert ["Content-Type", "application/json"] in response["headers"]
    fin = finished["values"]
    assert fin["input_length"] == 1000 and fin["input_reads"] >= 1
    assert fin["output_length"] > 0 and fin["output_writes"] >= 1
    assert fin["application_time"] >= 0 and fin["application_finish"] >= started["values"]["application_start"]
    # Apache received it before the app started; in daemon mode it was queued to a daemon.
    start = started["values"]
    assert 0 < start["request_start"] <= start["application_start"]
    if mode == "daemon":
        assert start["request_start"] <= start["queue_start"] <= start["daemon_start"] <= start["application_start"]
    else:
        assert start["queue_start"] == 0 and start["daemon_start"] == 0


@pytest.mark.gantry_only  # mod_wsgi 6.0's keys; 4.9.4 lacks these in request_finished
def test_request_finished_has_mod_wsgi_6_keys(apache):
    info = get_json(apache, "/api/echo", body=b"abc")
    events, _ = events_of(apache, info["request_id"])
    finished = events["request_finished"]
    assert FINISHED_KEYS_6 <= set(finished["keys"]), finished["keys"]
    assert finished["values"]["status"] == 200
    assert finished["values"]["request_start"] == events["request_started"]["values"]["request_start"]


@pytest.mark.log_ids(*harness.ids("app_exception"))
def test_request_exception_for_an_app_that_raises(apache):
    r = apache.get("/api/raise")
    assert r.status == 500
    # The app raised before it could tell its request id: find the file that has it.
    deadline = time.monotonic() + 10
    found = None
    while found is None:
        for path in apache.state.glob("events-*.json"):
            entries = json.loads(path.read_text())
            if any(e["name"] == "request_exception" and "raised on purpose" in e.get("exception", "")
                   for e in entries):
                found = entries
        assert found is not None or time.monotonic() < deadline, "no request_exception recorded"
        time.sleep(0.02)
    order = [e["name"] for e in found]
    assert order == ["request_started", "request_exception", "request_finished"], order
    exception = next(e for e in found if e["name"] == "request_exception")
    assert EXCEPTION_KEYS <= set(exception["keys"]), exception["keys"]
    assert exception["values"]["exception_info"] == "tuple"
    assert "RuntimeError" in exception["exception"]


def test_request_data_and_active_requests_show_the_running_request(apache):
    info = get_json(apache, "/api/active")
    assert info["request_id"] in info["active_ids"]
    assert info["mine_is_request_data"] is True
    assert info["marker"] == "from the app"
    # The subscriber's request_started wrote into the same dict the app reads.
    assert info["seen_at_start"] is True


def test_process_metrics_keys_types_and_counts(apache):
    seen = [get_json(apache, "/api/metrics") for _ in range(12)]
    for info in seen:
        pm = info["process_metrics"]
        types = info["process_types"]
        assert {k: v for k, v in types.items() if k != "threads"} == {
            k: v for k, v in PROCESS_METRICS_TYPES.items() if k != "threads"}
        assert types["threads"][0] == PROCESS_METRICS_TYPES["threads"][0]
        assert pm["pid"] == info["pid"]
        # Finished plus running requests are exactly the requests this process started,
        # this one included. (The client waits for each response, but the previous request
        # may still be winding down after its last byte went out: 1 or 2 running.)
        assert pm["request_count"] + pm["active_requests"] == info["total_requests"] + 1
        assert 1 <= pm["active_requests"] <= 2
        assert sum(t["request_count"] for t in pm["threads"]) == info["total_requests"] + 1
        assert info["thread_id"] in [t["thread_id"] for t in pm["threads"]]
        assert pm["memory_rss"] > 1 << 20 and pm["memory_max_rss"] >= pm["memory_rss"] // 2
        assert pm["restart_time"] <= pm["current_time"]
        assert pm["cpu_user_time"] + pm["cpu_system_time"] > 0
    # The counts grow by exactly the requests this test sent to each process.
    by_pid = {}
    for info in seen:
        pm = info["process_metrics"]
        by_pid.setdefault(info["pid"], []).append(pm["request_count"] + pm["active_requests"])
    for pid, counts in by_pid.items():
        assert counts == sorted(counts) and counts[-1] - counts[0] == len(counts) - 1, (pid, counts)


def test_server_metrics_is_the_scoreboard_embedded_and_none_in_daemons(apache, mode):
    info = get_json(apache, "/api/metrics")
    if mode == "daemon":
        assert info["server_types"] is None  # mod_wsgi 4.9.4 without server-metrics=On
        return
    types = info["server_types"]
    assert {k: v for k, v in types.items() if k != "processes"} == SERVER_METRICS_TOP
    process = types["processes"][0]
    assert {k: v for k, v in process.items() if k != "workers"} == SERVER_PROCESS
    assert process["workers"][0] == SERVER_WORKER
    # The serving child is in the scoreboard.
    assert info["pid"] in info["server_pids"]


def test_request_metrics_window(apache, mode):
    get_json(apache, "/api/request-metrics")  # starts recording in that process
    # Several requests so each process that recorded gets some; then read a window.
    windows = [get_json(apache, "/api/request-metrics")["request_metrics"] for _ in range(8)]
    windows = [w for w in windows if w]  # a process's first call answers {} (4.9.4)
    assert windows
    for w in windows:
        assert {k: type(w[k]).__name__ for k in REQUEST_METRICS_TYPES} == REQUEST_METRICS_TYPES
        for key in BUCKETS:
            assert len(w[key]) == 16 and all(isinstance(n, int) for n in w[key])
        assert len(w["request_threads_buckets"]) == w["request_threads_maximum"]
        assert sum(w["application_time_buckets"]) == w["request_count"]
        if mode == "daemon":
            assert isinstance(w["queue_time"], float) and isinstance(w["daemon_time"], float)
        else:
            assert w["queue_time"] is None and w["daemon_time"] is None
    assert any(w["request_count"] >= 1 for w in windows)


def apache_version():
    out = subprocess.run([harness.APACHE_BIN, "-v"], stdout=subprocess.PIPE, text=True).stdout
    return [int(n) for n in re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", out).groups()]


@pytest.mark.gantry_only  # mod_wsgi 4.9.4 reports the httpd it was built against (2.4.55)
def test_apache_version_is_the_running_httpd(apache):
    info = get_json(apache, "/api/modules")
    assert info["apache"]["version"] == apache_version()


def test_module_attributes(apache, mode):
    info = get_json(apache, "/api/modules")
    mw, ap = info["mod_wsgi"], info["apache"]
    assert mw["version"] == [4, 9, 4]
    assert mw["application_group"] == ""
    assert ap["mpm_name"] == apache.mpm
    assert "Apache/" in ap["description"] and ap["build_date"]
    # The MPM's figures (harness.MPM_CONFIG): event 8 threads in 1 process's worth of
    # MaxRequestWorkers, prefork 4 single-threaded processes.
    mpm = {"event": (1, 8), "prefork": (4, 1)}[apache.mpm]
    assert (ap["maximum_processes"], ap["threads_per_process"]) == mpm
    if mode == "daemon":
        assert mw["process_group"] == harness.DAEMON_GROUP
        assert (mw["maximum_processes"], mw["threads_per_process"]) == (2, 4)
    else:
        assert mw["process_group"] == ""
        assert (mw["maximum_processes"], mw["threads_per_process"]) == mpm


@pytest.mark.embedded_only
def test_wsgi_server_metrics_off_gives_none(mpm):
    # mod_wsgi 4.9.4: server_metrics() answers when WSGIServerMetrics is absent (above), and
    # gives None when it is explicitly Off.
    config = "WSGIServerMetrics Off\n" + """
WSGIScriptAlias /api @APPS@/modwsgi_api.wsgi application-group=%{GLOBAL}
"""
    with harness.running(harness.Apache(config, mpm=mpm, name="server-metrics-off")) as server:
        info = get_json(server, "/api/metrics")
        assert info["server_types"] is None
        assert info["process_types"]["request_count"] == "int"
        apache_children.wait_started(server)
