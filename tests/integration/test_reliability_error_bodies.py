"""Security checklist S18: what an error response tells the client. The 500 of an application
that raised (embedded and daemon), the 502 of a daemon process that died, the 504 of one
that did not answer within socket-timeout (and the 503 of a full listen backlog, in
test_reliability_backlog.py) are Apache's own pages: no traceback, no file path, no Python
version, nothing of the exception's message - while the error log carries the details."""
import pytest

import harness

CONFIG = """
WSGIDaemonProcess errs processes=1 threads=2 socket-timeout=1 display-name=%{GROUP}
WSGIScriptAlias /emb @APPS@/reliability.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dmn @APPS@/reliability.wsgi process-group=errs application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
"""
apache = harness.server(CONFIG)

DIED = ("GANTRY0065", "GANTRY0072")
TIMED_OUT = ("GANTRY0073",)


def assert_discloses_nothing(apache, r, secret=None):
    """Neither the body nor the headers carry a detail of the server's inside."""
    text = r.data.decode("latin-1")
    for leak in ("Traceback", 'File "', str(apache.root), "/usr/", ".wsgi", "Python",
                 "python", "RuntimeError", "SECRET-DETAIL", "mod_gantry", "pid"):
        if leak in ("Python", "python") and not harness.IS_GANTRY:
            continue  # mod_wsgi's Server header names Python/3.11 (its default)
        assert leak not in text, (leak, text)
    if secret:
        assert secret not in text, text


def get(apache, path):
    return apache.raw(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
                      timeout=harness.REQUEST_TIMEOUT)


@pytest.mark.log_ids(*harness.ids("app_exception"))
@pytest.mark.parametrize("prefix", ["/emb", "/dmn"])
def test_500_of_an_exception_discloses_nothing(apache, prefix):
    offset = apache.log_size()
    r = get(apache, f"{prefix}/raise")
    assert r.status == 500, r.data[:300]
    assert_discloses_nothing(apache, r)
    # The details are in the log.
    apache.wait_for_log(r"SECRET-DETAIL from .*reliability\.wsgi", since=offset)


@pytest.mark.log_ids(*DIED)
def test_502_of_a_dead_daemon_discloses_nothing(apache):
    offset = apache.log_size()
    r = get(apache, "/dmn/kill9")
    assert r.status == (502 if harness.IS_GANTRY else 500), r.data[:300]
    assert_discloses_nothing(apache, r)
    if harness.IS_GANTRY:
        apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0072" and "SIGKILL" in ln.message,
                             since=offset, what="GANTRY0072 naming the signal")
    assert apache.get_json("/dmn/info")["process_group"] == "errs"  # replaced


@pytest.mark.log_ids(*TIMED_OUT)
def test_504_of_a_silent_daemon_discloses_nothing(apache):
    mark, release = apache.new_mark(), apache.new_mark()
    offset = apache.log_size()
    try:
        r = get(apache, f"/dmn/hold?mark={mark}&release={release}")
    finally:
        (apache.state / release).touch()
    assert r.status == 504, r.data[:300]
    assert_discloses_nothing(apache, r)
    if harness.IS_GANTRY:
        apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0073" and "'errs'" in ln.message,
                             since=offset, what="GANTRY0073 naming the group")
