"""WSGIDestroyInterpreter: On (the default), a process that stops in order runs the atexit
handlers its interpreters registered; Off - mod_wsgi's way out of clean-ups that hang at
exit - it leaves its interpreters alone and runs none of them.

mod_wsgi 4.9.4 with On runs those of the embedded main interpreter only (a sub-interpreter's
and a daemon's are lost: gantry_only for those); with Off, none, like Gantry."""
import os

import pytest

import harness

CONFIG = """
WSGIDestroyInterpreter {setting}
WSGIScriptAlias /sub @APPS@/atexit_marker.wsgi
WSGIScriptAlias /global @APPS@/atexit_marker.wsgi application-group=%{{GLOBAL}}
WSGIDaemonProcess exits processes=1 threads=2
WSGIScriptAlias /daemon-sub @APPS@/atexit_marker.wsgi process-group=exits
WSGIScriptAlias /daemon-global @APPS@/atexit_marker.wsgi process-group=exits application-group=%{{GLOBAL}}
"""


def markers_after_stop(mpm: str, setting: str) -> dict[str, set[str]]:
    """Starts an Apache, loads the app into each interpreter, stops it in order; returns
    {url: interpreters whose handlers left a marker in the process that served it}."""
    apache = harness.Apache(CONFIG.format(setting=setting), mpm=mpm, name=f"destroy-{setting}")
    markers = apache.apps / "markers"
    markers.mkdir()
    os.chmod(markers, 0o777)  # the processes run as Apache's User
    served = {}
    try:
        apache.start()
        for url in ("/sub", "/global", "/daemon-sub", "/daemon-global"):
            r = apache.get(url)
            assert r.status == 200, r.text
            served[url] = r.text.split()[0]
        apache.stop()
        found = set(os.listdir(markers))
    finally:
        apache.cleanup()
    return {url: {name for name in ("sub", "GLOBAL") if f"atexit-{pid}-{name}" in found}
            for url, pid in served.items()}


@pytest.fixture(scope="module")
def destroy_on(mpm):
    return markers_after_stop(mpm, "On")


@pytest.fixture(scope="module")
def destroy_off(mpm):
    return markers_after_stop(mpm, "Off")


def test_on_runs_embedded_main_interpreter_handlers(destroy_on, mpm):
    if not harness.IS_GANTRY and mpm == "event":
        pytest.skip("mod_wsgi 4.9.4 hangs destroying interpreters in exiting event children "
                    "(why the harness gives it WSGIDestroyInterpreter Off)")
    assert "GLOBAL" in destroy_on["/global"]


@pytest.mark.gantry_only
@pytest.mark.parametrize("url,interpreter", [("/sub", "sub"), ("/daemon-sub", "sub"),
                                             ("/daemon-global", "GLOBAL")])
def test_on_runs_every_interpreters_handlers(destroy_on, url, interpreter):
    assert interpreter in destroy_on[url], destroy_on


def test_off_runs_none(destroy_off):
    assert destroy_off == {url: set() for url in destroy_off}
