"""The harness tells httpd's own event-MPM stop race apart from every other crash at stop
(httpd_stop_race.py), and only that race: a crash at stop on a path where a module runs
still fails the run.

data/httpd_stop_race/ holds gdb's output ("info threads", then "bt" of the crashing thread)
for three real cores: one from CI's run of test_template_process.py with Gantry loaded, two
from scripts/httpd-stop-race.py with no WSGI module loaded at all (the same crash: httpd's).
"""
import shutil
import warnings
from pathlib import Path

import pytest

import harness
import httpd_stop_race

DATA = Path(__file__).parent / "data" / "httpd_stop_race"
# Each recorded core and the pid of the child it belongs to (the crashing main thread's LWP).
RECORDED = {"gantry-template-event.txt": 1602, "nomodule-apr_os_sock_get.txt": 27339,
            "nomodule-apr_pool_cleanup_kill.txt": 32114}


def recorded(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_recorded_cores_of_the_race_are_recognised(name):
    verdict = httpd_stop_race.analyse(recorded(name), RECORDED[name])
    assert verdict and "close_worker_sockets" in verdict, verdict


def test_a_core_of_another_process_is_not_taken_for_it():
    name = "gantry-template-event.txt"
    assert httpd_stop_race.analyse(recorded(name), RECORDED[name] + 1) is None


def test_a_module_frame_on_the_crashing_stack_is_not_the_race():
    text = recorded("gantry-template-event.txt").replace(
        "#2  0x00007f88026ec507 in ?? () from /usr/lib/apache2/modules/mod_mpm_event.so",
        "#2  0x00007f88026ec507 in gantry_child_stopping () from /x/build/modules/mod_gantry.so")
    assert httpd_stop_race.analyse(text, 1602) is None


def test_a_crash_inside_python_is_not_the_race():
    text = recorded("nomodule-apr_os_sock_get.txt").replace(
        "#0  0x00007f06b37c4180 in apr_os_sock_get () from /lib/x86_64-linux-gnu/libapr-1.so.0",
        "#0  0x00007f06b37c4180 in _PyObject_GC_Link () from /lib/x86_64-linux-gnu/libpython3.11.so.1.0")
    assert httpd_stop_race.analyse(text, 27339) is None


def test_a_crash_of_a_worker_thread_is_not_the_race():
    # Same stack text, but gdb says the signal hit another thread than the child's main one.
    text = recorded("gantry-template-event.txt")
    text = text.replace("* 1    Thread 0x7f880272a780", "  1    Thread 0x7f880272a780")
    text = text.replace("  5    Thread 0x7f88018ca6c0", "* 5    Thread 0x7f88018ca6c0")
    assert httpd_stop_race.analyse(text, 1602) is None


def test_another_signal_is_not_the_race():
    text = recorded("gantry-template-event.txt").replace(
        "Program terminated with signal SIGSEGV, Segmentation fault.",
        "Program terminated with signal SIGABRT, Aborted.")
    assert httpd_stop_race.analyse(text, 1602) is None


def test_a_stack_that_does_not_reach_ap_run_mpm_is_not_the_race():
    text = recorded("gantry-template-event.txt").replace("in ap_run_mpm ()", "in ap_run_child_init ()")
    assert httpd_stop_race.analyse(text, 1602) is None


SEGV_AT_EXIT_APP = """
import atexit
import ctypes

def crash():
    ctypes.string_at(0)  # SIGSEGV in the child's main thread while it exits

atexit.register(crash)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"armed"]
"""


@pytest.mark.gantry_only
@pytest.mark.embedded_only
def test_a_crash_at_stop_on_a_module_path_still_fails_the_stop():
    """A child of the event MPM that dies of SIGSEGV after the stop signal, in its main
    thread, on the exit path where Gantry runs Python's exit handlers: the harness reads its
    core and still reports the crash as a failure, not as httpd's race."""
    assert shutil.which("gdb"), "gdb is needed to read cores (scripts/install-deps.sh)"
    apache = harness.Apache("WSGIScriptAlias /crash @ROOT@/crash.wsgi", mpm="event",
                            name="stop-crash", files={"crash.wsgi": SEGV_AT_EXIT_APP})
    try:
        apache.start()
        assert apache.get("/crash").body == b"armed"
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with pytest.raises(harness.ApacheError, match="Segmentation fault"):
                apache.stop()
        assert not [w for w in seen if issubclass(w.category, httpd_stop_race.KnownHttpdCrash)]
        assert list((apache.root / "cores").glob("core*")), "the crashed child left no core"
    finally:
        apache._stopped_ok = True  # the crash was this test's purpose: remove its ServerRoot
        apache.cleanup()
