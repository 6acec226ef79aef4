"""WSGIRestrictStdin / WSGIRestrictStdout / WSGIRestrictSignal, each On and Off (server-wide
settings, so two servers)."""
import pytest

import harness

# Restrictions and main-thread checks of Apache's children: embedded mode by nature.
pytestmark = pytest.mark.embedded_only

APPS = """
WSGIScriptAlias /global @APPS@/restrict.wsgi
<Location /global>
  WSGIApplicationGroup %{GLOBAL}
</Location>
WSGIScriptAlias /sub @APPS@/restrict.wsgi
"""

restricted = harness.server("""
WSGIRestrictStdin On
WSGIRestrictStdout On
WSGIRestrictSignal On
""" + APPS)

unrestricted = harness.server("""
WSGIRestrictStdin Off
WSGIRestrictStdout Off
WSGIRestrictSignal Off
""" + APPS)


@pytest.mark.parametrize("url", ["/global", "/sub"])
def test_stdin_restricted(restricted, url):
    j = restricted.get(url + "?stdin").json()
    assert j["ok"] is False
    assert j["error"].startswith(("OSError", "IOError", "RuntimeError")), j


@pytest.mark.parametrize("url", ["/global", "/sub"])
def test_stdout_restricted(restricted, url):
    j = restricted.get(url + "?stdout").json()
    assert j["ok"] is False
    assert j["error"].startswith(("OSError", "IOError", "RuntimeError")), j


@pytest.mark.parametrize("url", ["/global", "/sub"])
def test_signal_restricted(restricted, url):
    offset = restricted.log_size()
    j = restricted.get(url + "?signal").json()
    # The registration is ignored, not an error for the app; the log says so.
    assert j["ok"] is True, j
    assert j["installed"] is False
    restricted.wait_for_log(r"(?i)signal", since=offset)


@pytest.mark.parametrize("url", ["/global", "/sub"])
def test_stdin_unrestricted(unrestricted, url):
    j = unrestricted.get(url + "?stdin").json()
    assert j == {"ok": True, "result": "''"}


@pytest.mark.parametrize("url", ["/global", "/sub"])
@pytest.mark.log_ids(*harness.ids("app_output"))
def test_stdout_unrestricted_goes_to_log(unrestricted, url):
    offset = unrestricted.log_size()
    j = unrestricted.get(url + "?stdout").json()
    assert j["ok"] is True, j
    unrestricted.wait_for_log("gantry-test stdout line", since=offset)


def test_signal_unrestricted(unrestricted, mpm):
    j = unrestricted.get("/global?signal").json()
    if mpm == "prefork":
        # prefork runs the request on the process's main thread, in the main interpreter:
        # the handler is really installed.
        assert j["ok"] is True and j["installed"] is True, j
    else:
        # A worker thread: Python itself refuses (signals only work in the main thread).
        assert j["ok"] is False and j["error"].startswith("ValueError"), j


def test_threading_main_thread_is_the_process_main_thread(unrestricted, mpm):
    """In %{GLOBAL}, threading.main_thread() is the thread that started Python: the child's
    main thread. Under the event MPM requests run on worker threads, so no request thread
    may be taken for the main thread (as it would be if `threading` were first imported by
    a request)."""
    for _ in range(4):
        j = unrestricted.get("/global?signal").json()
        assert j["main_thread"] is (mpm == "prefork"), j
