"""What an application sees of Python when the configuration has nothing but the alias:
mod_wsgi 4.9.4's defaults (WSGIRestrictStdout Off: print() goes to the error log;
WSGIRestrictStdin Off; WSGIRestrictSignal On), sys.stdout / sys.stderr / wsgi.errors as
text streams into the error log with a binary .buffer, and sys.prefix / sys.exec_prefix
of the Python the module was built against whatever PATH Apache was started with."""
import os

import pytest

import harness

CONFIG = """
WSGIScriptAlias /stdio @APPS@/stdio.wsgi
"""

apache = harness.server(CONFIG)


@pytest.fixture(scope="module")
def bin_first(mpm, mode):
    """The same server started with /bin ahead of /usr/bin on PATH, as a minimal init
    system or a hand-written service file may start it (merged /usr: /bin/python3 exists)."""
    saved = os.environ["PATH"]
    os.environ["PATH"] = "/bin:/usr/bin"
    try:
        with harness.running(harness.Apache(CONFIG, mpm=mpm, mode=mode, name="bin-first")) as a:
            os.environ["PATH"] = saved
            yield a
    finally:
        os.environ["PATH"] = saved


@pytest.mark.log_ids(*harness.ids("app_output"))
def test_print_goes_to_the_error_log(apache):
    offset = apache.log_size()
    r = apache.get("/stdio?print=gantry-test+print+4711")
    assert r.status == 200, r.text
    assert r.json() == {"print": "None"}
    apache.wait_for_log("gantry-test print 4711", since=offset)


@pytest.mark.log_ids(*harness.ids("app_output"))
def test_stderr_goes_to_the_error_log(apache):
    offset = apache.log_size()
    r = apache.get("/stdio?stderr=gantry-test+stderr+4712")
    assert r.status == 200, r.text
    apache.wait_for_log("gantry-test stderr 4712", since=offset)


def test_standard_streams_are_text_streams(apache):
    """Shaped like the io.TextIOWrapper mod_wsgi installs over its log object."""
    j = apache.get("/stdio?streams").json()
    for name, expected_name in (("stdout", "'<stdout>'"), ("stderr", "'<stderr>'"),
                                ("wsgi.errors", "'<wsgi.errors>'")):
        assert j[name] == {
            "name": expected_name,
            "encoding": "'utf-8'",
            "errors": "'replace'",
            "line_buffering": "True",
            "text_io": True,
            "isatty": "False",
            "writable": "True",
            "fileno": "OSError",
            "has_buffer": True,
            "write_bytes": "TypeError",
            "flush": "None",
        }, name


def test_stdin_reads_nothing_and_signal_is_ignored(apache):
    j = apache.get("/stdio?streams").json()
    assert j["stdin"] == "''"                 # WSGIRestrictStdin Off: Apache's /dev/null
    assert j["signal"] != "OSError"           # WSGIRestrictSignal On: accepted...
    assert j["signal_installed"] is False     # ...but not installed


@pytest.mark.log_ids(*harness.ids("app_output"))
def test_wsgi_errors_text_lands_in_the_error_log(apache):
    offset = apache.log_size()
    assert apache.get("/stdio?errors=gantry-test+errors+4713").json() == {"errors": "24"}
    apache.wait_for_log("gantry-test errors 4713", since=offset)


@pytest.mark.gantry_only  # mod_wsgi 6's buffer; 4.9.4's takes bytes only (not bytearray, memoryview)
@pytest.mark.log_ids(*harness.ids("app_output"))
def test_wsgi_errors_buffer_takes_bytes_like_objects(apache):
    offset = apache.log_size()
    j = apache.get("/stdio?errors-bytes=gantry-test-4714").json()
    assert j == {"errors-bytes": ["26", "30", "31", "None"]}, j
    for how in ("as bytes", "as bytearray", "as memoryview", "by writelines"):
        apache.wait_for_log(f"gantry-test-4714 {how}", since=offset)


def is_debian_python(j):
    # sys.executable: mod_wsgi names /usr/bin/python3, Gantry the python3.11 it was built
    # with - the same file.
    return ((j["prefix"], j["exec_prefix"], j["base_prefix"]) == ("/usr", "/usr", "/usr")
            and os.path.realpath(j["executable"]) == os.path.realpath("/usr/bin/python3"))


def test_sys_prefix_is_the_build_python(apache):
    j = apache.get("/stdio?prefix").json()
    assert is_debian_python(j), j


def test_sys_prefix_does_not_depend_on_path(bin_first):
    j = bin_first.get("/stdio?prefix").json()
    assert is_debian_python(j), j
