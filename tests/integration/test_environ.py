"""The WSGI environ: CGI variables, SCRIPT_NAME/PATH_INFO splitting at / and at /sub
(including %-encoded paths), CONTENT_TYPE/CONTENT_LENGTH, HTTP_*, the wsgi.* keys per MPM,
wsgi.errors reaching the error log, mod_wsgi.* keys and SetEnv values. The last test runs
the same requests through Debian's mod_wsgi and compares the whole environ."""
import pytest

import harness

CONFIG = """
SetEnv GANTRY_SETENV from-setenv
WSGIScriptAlias /counts @APPS@/counts.wsgi
WSGIScriptAlias /sub @APPS@/env.wsgi
WSGIScriptAlias / @APPS@/env.wsgi
"""
apache = harness.server(CONFIG)


def env(apache, path, method="GET", body=None, headers=None):
    r = apache.request(method, path, body=body, headers=headers)
    assert r.status == 200, (path, r.status, r.text)
    return r.json()


def test_cgi_variables(apache):
    e = env(apache, "/sub/x/y?a=1&b=two%20words")
    assert e["REQUEST_METHOD"] == "GET"
    assert e["QUERY_STRING"] == "a=1&b=two%20words"
    assert e["SERVER_NAME"] == "127.0.0.1"
    assert e["SERVER_PORT"] == str(apache.port)
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert e["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert e["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert e["REQUEST_URI"] == "/sub/x/y?a=1&b=two%20words"
    assert e["SCRIPT_FILENAME"] == str(apache.apps / "env.wsgi")
    assert e["REMOTE_PORT"].isdigit()


def test_http_1_0_protocol(apache):
    r = apache.raw(b"GET /sub HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert r.status == 200
    import json
    assert json.loads(r.body)["SERVER_PROTOCOL"] == "HTTP/1.0"


@pytest.mark.parametrize("path,script_name,path_info", [
    ("/sub", "/sub", ""),
    ("/sub/", "/sub", "/"),
    ("/sub/x/y", "/sub", "/x/y"),
    ("/", "", "/"),
    ("/other/thing", "", "/other/thing"),
    ("/subway", "", "/subway"),
    ("/sub/a%20b/c", "/sub", "/a b/c"),
    ("/sub/caf%C3%A9", "/sub", "/caf\u00c3\u00a9"),   # UTF-8 bytes seen as latin-1 (PEP 3333)
    ("/caf%C3%A9/x", "", "/caf\u00c3\u00a9/x"),
    ("/su%62/x", "/sub", "/x"),
])
def test_script_name_path_info(apache, path, script_name, path_info):
    e = env(apache, path)
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == (script_name, path_info)
    assert e["REQUEST_URI"] == path


def test_query_string_empty_and_absent(apache):
    assert env(apache, "/sub?")["QUERY_STRING"] == ""
    assert env(apache, "/sub")["QUERY_STRING"] == ""


def test_content_type_and_length_bare(apache):
    e = env(apache, "/sub", method="POST", body=b"0123456789",
            headers={"Content-Type": "application/x-test"})
    assert e["CONTENT_TYPE"] == "application/x-test"
    assert e["CONTENT_LENGTH"] == "10"
    assert "HTTP_CONTENT_TYPE" not in e
    assert "HTTP_CONTENT_LENGTH" not in e


def test_no_content_length_without_body(apache):
    e = env(apache, "/sub")
    assert e.get("CONTENT_LENGTH", "") in ("", "0") or "CONTENT_LENGTH" not in e
    assert "CONTENT_TYPE" not in e


def test_http_headers(apache):
    e = env(apache, "/sub", headers={"X-Custom-Header": "value 1", "Accept": "text/x-test",
                                     "User-Agent": "gantry-tests"})
    assert e["HTTP_X_CUSTOM_HEADER"] == "value 1"
    assert e["HTTP_ACCEPT"] == "text/x-test"
    assert e["HTTP_USER_AGENT"] == "gantry-tests"
    assert e["HTTP_HOST"] == f"127.0.0.1:{apache.port}"


def test_repeated_header_joined(apache):
    r = apache.raw(b"GET /sub HTTP/1.1\r\nHost: x\r\nX-Rep: a\r\nX-Rep: b\r\n"
                   b"Connection: close\r\n\r\n")
    import json
    assert json.loads(r.body)["HTTP_X_REP"] == "a, b"


def test_header_with_underscore_is_dropped(apache):
    # Apache drops headers whose names contain '_' from CGI variables, so X_Forwarded
    # cannot spoof HTTP_X_FORWARDED.
    r = apache.raw(b"GET /sub HTTP/1.1\r\nHost: x\r\nX_Under: 1\r\nConnection: close\r\n\r\n")
    import json
    e = json.loads(r.body)
    assert "HTTP_X_UNDER" not in e


def test_spoofing_headers_never_reach_the_environ(apache):
    """Reliability checklist S9: `Proxy:` would become HTTP_PROXY, which CGI-style code
    takes for its outgoing proxy (httpoxy); underscore names would pose as the dash names
    proxies set (X-Forwarded_For for X-Forwarded-For) or as CONTENT_LENGTH."""
    r = apache.raw(b"GET /sub HTTP/1.1\r\nHost: x\r\nProxy: http://evil.example:3128\r\n"
                   b"X-Forwarded_For: 6.6.6.6\r\nContent_Length: 99\r\nConnection: close\r\n\r\n")
    import json
    e = json.loads(r.body)
    assert "HTTP_PROXY" not in e
    assert "HTTP_X_FORWARDED_FOR" not in e
    assert "HTTP_CONTENT_LENGTH" not in e and e.get("CONTENT_LENGTH", "") in ("", "0")
    assert "6.6.6.6" not in r.body.decode() and "evil.example" not in r.body.decode()


def test_wsgi_keys(apache, mpm, mode):
    e = env(apache, "/sub")
    assert e["wsgi.version"] == [1, 0]
    assert e["wsgi.url_scheme"] == "http"
    assert e["wsgi.run_once"] is False
    assert e["wsgi.input_terminated"] is True
    if mode == "daemon":
        # harness.DAEMON_CONFIG: processes=2 threads=4, whatever the MPM.
        assert (e["wsgi.multithread"], e["wsgi.multiprocess"]) == (True, True)
    elif mpm == "event":
        # One process of 8 threads in this config.
        assert (e["wsgi.multithread"], e["wsgi.multiprocess"]) == (True, False)
    else:
        assert (e["wsgi.multithread"], e["wsgi.multiprocess"]) == (False, True)
    for key in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert e[key].startswith("<object "), key


def test_mod_wsgi_keys(apache, mode):
    e = env(apache, "/sub/pi")
    assert e["mod_wsgi.process_group"] == (harness.DAEMON_GROUP if mode == "daemon" else "")
    assert e["mod_wsgi.application_group"] == f"127.0.0.1:{apache.port}|/sub"
    assert e["mod_wsgi.callable_object"] == "application"
    assert e["mod_wsgi.script_name"] == "/sub"
    assert e["mod_wsgi.path_info"] == "/pi"
    assert isinstance(e["mod_wsgi.version"], list)
    assert e["mod_wsgi.request_handler"] == "wsgi-script"


def test_versions_and_request_counts(apache, mpm, mode):
    """apache.version (the running httpd's, a tuple of ints), mod_wsgi.version (the release
    whose behaviour Gantry follows: 4.9.4), and the per-process request counting of the
    process that runs the app (an Apache child, or a daemon process): a thread keeps its
    thread_id and counts its own requests, the process counts all of them; both count the
    requests before this one. Keep-alive pins the requests to one Apache child; in daemon
    mode they are grouped by daemon pid."""
    import re
    import subprocess
    conn = apache.connection()
    try:
        seen = [apache.get("/counts", conn=conn).json() for _ in range(12)]
    finally:
        conn.close()
    server = subprocess.run([harness.APACHE_BIN, "-v"], capture_output=True, text=True).stdout
    running = re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", server).groups()
    by_pid, threads = {}, {}
    for e in seen:
        if harness.IS_GANTRY:
            assert e["apache.version"] == [int(x) for x in running]
        else:  # mod_wsgi reports the httpd it was compiled against
            assert e["apache.version"][:2] == [int(x) for x in running[:2]]
        assert e["mod_wsgi.version"] == [4, 9, 4]
        for key in ("mod_wsgi.thread_id", "mod_wsgi.thread_requests", "mod_wsgi.total_requests"):
            assert type(e[key]) is int, (key, e[key])
        by_pid.setdefault(e["pid"], []).append(e)
    for pid, es in by_pid.items():
        totals = [e["mod_wsgi.total_requests"] for e in es]
        assert totals == sorted(set(totals)), totals  # one count per request, in order
        for e in es:
            threads.setdefault((pid, e["mod_wsgi.thread_id"]), []).append(e["mod_wsgi.thread_requests"])
    for (pid, tid), counts in threads.items():
        assert counts == list(range(counts[0], counts[0] + len(counts))), (tid, counts)
        if mpm == "prefork" and mode == "embedded":
            assert tid == 0, tid  # the child's one thread, which started Python
        else:
            assert tid >= 1, tid  # a request thread, numbered from 1 per process

def test_setenv_value(apache):
    assert env(apache, "/sub")["GANTRY_SETENV"] == "from-setenv"


@pytest.mark.log_ids(*harness.ids("app_output"))
@pytest.mark.gantry_only_in_daemon("its daemons log wsgi.errors as [remote ...], not per request")
def test_wsgi_errors_lands_in_error_log(apache):
    offset = apache.log_size()
    env(apache, "/sub?errors=gantry-errors-probe-4711")
    text = apache.wait_for_log("gantry-errors-probe-4711", since=offset)
    line = next(ln for ln in text.splitlines() if "gantry-errors-probe-4711" in ln)
    parsed = harness.parse_log(line)[0]
    # Tagged with the request's client like Apache's own request log lines.
    assert "[client 127.0.0.1:" in line, line
    assert parsed.level in ("error", "warn", "notice", "info"), line


# -- Gantry vs mod_wsgi -------------------------------------------------------------------

# Keys whose VALUES legitimately differ between two servers or two requests; the keys
# themselves must still be present in both.
VOLATILE_VALUES = {
    "REMOTE_PORT",
    "SERVER_SOFTWARE",          # names the module and its version
    "apache.version",           # mod_wsgi reports the httpd it was built against
    "mod_wsgi.version",
    "mod_wsgi.request_id",
    "mod_wsgi.request_start",
    "mod_wsgi.queue_start",
    "mod_wsgi.daemon_start",     # daemon mode: when a daemon thread took the request
    "mod_wsgi.script_start",
    "mod_wsgi.thread_id",
    "mod_wsgi.thread_requests",
    "mod_wsgi.total_requests",
    "wsgi.input",               # object type names
    "wsgi.errors",
    "wsgi.file_wrapper",
}

COMPARE_REQUESTS = [
    ("GET", "/sub/x/y?a=1&b=2", None, {"X-Custom": "1"}),
    ("GET", "/", None, {}),
    ("GET", "/caf%C3%A9/a%20b?q", None, {"Accept-Language": "en"}),
    ("POST", "/sub/form", b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("PUT", "/sub", b"xyz", {"Content-Type": "text/plain", "X-Twice": "a"}),
]


def normalise(apache, e):
    out = {}
    for k, v in e.items():
        if k in VOLATILE_VALUES:
            v = "<volatile>"
        elif isinstance(v, str):
            v = v.replace(str(apache.root), "@ROOT@").replace(str(apache.port), "@PORT@")
        out[k] = v
    return out


@pytest.mark.gantry_only
def test_environ_matches_mod_wsgi(apache, mpm, mode):
    ref = harness.Apache(CONFIG, mpm=mpm, mode=mode, module="mod_wsgi", name="reference")
    try:
        with ref:
            compare_with(apache, ref)
    finally:
        ref.cleanup()


def compare_with(apache, ref):
    """Every difference over all requests, reported together."""
    report = []
    for method, path, body, headers in COMPARE_REQUESTS:
        ours = normalise(apache, env(apache, path, method, body, headers))
        theirs = normalise(ref, env(ref, path, method, body, headers))
        missing = sorted(set(theirs) - set(ours))
        extra = sorted(set(ours) - set(theirs))
        differ = {k: (ours[k], theirs[k]) for k in ours if k in theirs and ours[k] != theirs[k]}
        if missing or extra or differ:
            report.append(f"{method} {path}: missing {missing}, extra {extra}, "
                          f"(gantry, mod_wsgi) values {differ}")
    assert not report, "\n".join(report)
