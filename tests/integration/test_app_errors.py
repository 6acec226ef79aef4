"""Misbehaving apps. Before anything is sent: a clean 500 and a log line naming the cause
(a traceback for exceptions). After the headers went out: the response is cut short (never
looks complete). Header/status values that could split the response are never emitted.
After each, the server keeps serving."""
import pytest

import harness

apache = harness.server("""
WSGIScriptAlias /e @APPS@/errors.wsgi
""")

# The ids Gantry logs for misbehaving apps (exceptions, bad status/headers/body items).
APP_ERROR_IDS = harness.ids("app_exception", "bad_response")
pytestmark = pytest.mark.log_ids(*APP_ERROR_IDS)


def get(apache, path, keepalive=False):
    conn = b"" if keepalive else b"Connection: close\r\n"
    # A kept-alive connection that the server (wrongly) leaves open only costs the timeout.
    return apache.raw(b"GET /e/%s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), conn),
                      timeout=1.5 if keepalive else 5)


def still_serving(apache):
    r = apache.get("/e/ok")
    assert (r.status, r.body) == (200, b"still serving")


def error_lines(apache, offset):
    return [ln for ln in apache.log_lines(offset) if ln.severity <= 3]


CLEAN_500 = {
    "raise-before-start": "failed before start_response",
    "raise-after-start": "failed after start_response, before body",
    "no-start-response": None,
    "non-bytes": None,
    "status-no-reason": None,
    "status-garbage": None,
    "status-not-str": None,
    "status-crlf": None,
    "header-name-space": None,
    "header-name-colon": None,
    "header-value-crlf": None,
    "header-value-lf": None,
    "header-non-latin1": None,
    "header-bytes": None,
    "header-not-tuple": None,
}


@pytest.mark.parametrize("case", sorted(CLEAN_500))
def test_clean_500(apache, case, mode):
    if case == "header-name-colon" and mode == "daemon" and not harness.IS_GANTRY:
        pytest.skip("mod_wsgi's daemon mode passes a header name with a colon through")
    offset = apache.log_size()
    r = get(apache, case)
    assert r.status == 500, r.data[:300]
    assert b"X-Injected" not in r.data
    assert r.header("X-Split") is None and r.header("X-Euro") is None
    assert r.header("Bad Name") is None and r.header("X-A") is None
    # Apache's own error page, nothing of the app's body.
    assert r.body != b"x" and b"never started" not in r.body
    text = apache.wait_for_log(r"\S", since=offset)
    assert error_lines(apache, offset), f"no error-level log line for {case}:\n{text}"
    if CLEAN_500[case]:
        # An exception: its traceback and message are logged, with the script's path.
        apache.wait_for_log("Traceback", since=offset)
        apache.wait_for_log(CLEAN_500[case], since=offset)
        assert str(apache.apps / "errors.wsgi") in apache.log_text(offset)
    if harness.IS_GANTRY:
        assert any(ln.gantry_id for ln in error_lines(apache, offset)), text
    still_serving(apache)


@pytest.mark.parametrize("case", ["header-value-crlf", "header-value-lf", "status-crlf"])
def test_response_splitting_on_keepalive(apache, case):
    rs = apache.raw_all(b"GET /e/%s HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /e/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        % case.encode(), timeout=5)
    data = b"".join(r.data for r in rs)
    assert b"X-Injected" not in data
    assert rs[0].status == 500
    if len(rs) > 1:
        assert (rs[1].status, rs[1].body) == (200, b"still serving")
    still_serving(apache)


@pytest.mark.gantry_only  # mod_wsgi 4.9.4 sends the 1xx as the final response
@pytest.mark.parametrize("code", ["100", "101", "103"])
def test_informational_status_is_never_the_final_response(apache, code):
    """Reliability checklist S4: a 1xx status from start_response is an interim response
    in HTTP; sent as the final one, the client (or a proxy) waits for the real response and
    takes the next request's answer for it. The next request on the connection must get its
    own correct response."""
    rs = apache.raw_all(b"GET /e/status-1xx-%s HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /e/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        % code.encode(), timeout=5)
    statuses = [r.status for r in rs]
    assert not any(s is not None and s < 200 for s in statuses), [r.data[:200] for r in rs]
    assert b"interim body" not in b"".join(r.data for r in rs)
    assert rs[0].status == 500
    if len(rs) > 1:
        assert (rs[1].status, rs[1].body) == (200, b"still serving")
    still_serving(apache)


@pytest.mark.gantry_only
def test_header_value_nul_is_refused(apache):
    """(mod_wsgi 4.9.4 emits the value cut at the NUL: 'X-Nul: a'.)"""
    r = get(apache, "header-value-nul")
    assert r.status == 500
    assert r.header("X-Nul") is None
    still_serving(apache)


@pytest.mark.gantry_only
@pytest.mark.parametrize("case,header", [("hop-keep-alive", "Keep-Alive"),
                                         ("hop-upgrade", "Upgrade")])
def test_hop_by_hop_header_never_emitted(apache, case, header):
    """PEP 3333 forbids apps to send hop-by-hop headers; Gantry refuses the response (500)
    or drops the header, never forwards it. (mod_wsgi 4.9.4 forwards them.)"""
    r = get(apache, case, keepalive=True)
    assert r.status in (200, 500)
    assert r.header(header) is None
    if r.status == 200:
        assert r.body == b"x"
    still_serving(apache)


def test_hop_by_hop_connection_header_keeps_framing(apache):
    rs = apache.raw_all(b"GET /e/hop-connection HTTP/1.1\r\nHost: x\r\n\r\n"
                        b"GET /e/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
    assert rs[0].status in (200, 500)
    if rs[0].status == 200:
        assert rs[0].body == b"x" and rs[0].complete
    if len(rs) > 1:
        assert (rs[1].status, rs[1].body) == (200, b"still serving")
    still_serving(apache)


@pytest.mark.parametrize("case,expected", [
    ("raise-after-body", b"partial body "),
    ("raise-after-body-chunked", b"partial body "),
    ("non-bytes-later", b"bytes first "),
])
@pytest.mark.parametrize("keepalive", [False, True])
@pytest.mark.gantry_only_in_daemon("it ends a chunked response that failed midstream with the"
                                   " last chunk, so the truncation looks complete")
def test_failure_after_headers_truncates(apache, case, expected, keepalive):
    offset = apache.log_size()
    r = get(apache, case, keepalive=keepalive)
    assert r.status == 200
    assert r.body == expected
    assert not r.complete, "a response that failed midway must not look complete"
    if harness.IS_GANTRY or not keepalive:
        assert r.closed, "the connection must be closed after a failed response"
    apache.wait_for_log("Traceback" if "raise" in case else r"(?i)str|bytes", since=offset)
    still_serving(apache)


@pytest.mark.gantry_only  # mod_wsgi 6's RequestTimeout (4.9.4 has none)
def test_request_timeout_from_the_app_is_504_with_one_info_line(apache):
    offset = apache.log_size()
    r = get(apache, "request-timeout")
    assert r.status == 504, r.data[:300]
    assert r.header("X-Started") is None
    assert b"swallowed" not in r.body
    line = apache.wait_for_log(r"GANTRY0130: [^\n]*", since=offset)
    assert "gantry-test: backend did not answer" in line
    lines = [ln for ln in apache.log_lines(offset) if ln.gantry_id]
    assert [ln.gantry_id for ln in lines if ln.gantry_id not in ("GANTRY0105", "GANTRY0103")] == ["GANTRY0130"]
    assert not error_lines(apache, offset)
    assert "Traceback" not in apache.log_text(offset)
    still_serving(apache)


@pytest.mark.gantry_only  # mod_wsgi 6's RequestTimeout (4.9.4 has none)
def test_request_timeout_after_the_headers_cuts_the_response(apache):
    offset = apache.log_size()
    r = get(apache, "request-timeout-after-body")
    assert (r.status, r.body) == (200, b"partial body ")
    assert not r.complete
    apache.wait_for_log("GANTRY0130: .*gave up midway", since=offset)
    assert not error_lines(apache, offset)
    still_serving(apache)
