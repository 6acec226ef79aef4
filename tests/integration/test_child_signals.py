"""The signals a process started by the application inherits (issue: daemon threads used to
keep SIGTERM, SIGUSR1, SIGINT, SIGXCPU and the retire signal blocked, and every child the
app started - subprocess, os.system, os.posix_spawn - kept them blocked across exec: its
terminate() did nothing, a helper it ran could not be stopped).

What mod_wsgi 4.9.4 gives in daemon mode (GANTRY_TEST_MODULE=mod_wsgi, both MPMs), the
same as a plain `python3` process running the same code: nothing blocked; ignored only
SIGPIPE and SIGXFSZ (which Python ignores for itself) where Python does not restore them
(subprocess's restore_signals=False, os.system, os.posix_spawn), plus glibc's two internal
signals (32, 33) that its posix_spawn() - under os.system too - sets to SIG_IGN in every
child. Embedded mode is Apache's worker thread, whose mask mod_wsgi does not change either:
the event MPM blocks signals in its worker threads (its children's terminate() does nothing,
mod_wsgi 4.9.4 included), prefork does not; the masks are checked in daemon mode only.
"""
import signal

import pytest

import harness

CONFIG = """
WSGIScriptAlias / @APPS@/child_signals.wsgi
"""
apache = harness.server(CONFIG)


def bits(*signals):
    return sum(1 << (sig - 1) for sig in signals)


PYTHON_IGNORES = bits(signal.SIGPIPE, signal.SIGXFSZ)
GLIBC_SPAWN_IGNORES = bits(32, 33)  # SIGCANCEL, SIGSETXID: glibc's own, set by posix_spawn
EXPECTED_IGNORED = {"subprocess": 0, "subprocess-raw": PYTHON_IGNORES,
                    "system": PYTHON_IGNORES | GLIBC_SPAWN_IGNORES,
                    "posix_spawn": PYTHON_IGNORES | GLIBC_SPAWN_IGNORES}


def report(apache, how):
    r = apache.get(f"/{how}")
    assert r.status == 200, (how, r.status, r.text)
    return r.json()


def test_terminate_stops_a_child(apache, mpm, mode):
    if mode == "embedded" and mpm == "event":
        pytest.skip("the event MPM's worker threads block SIGTERM (so does mod_wsgi's child)")
    r = apache.get("/terminate")
    assert r.status == 200, r.text
    assert r.json()["returncode"] == -signal.SIGTERM, r.json()


@pytest.mark.parametrize("how", ["subprocess", "subprocess-raw", "system", "posix_spawn"])
def test_a_child_starts_with_nothing_blocked(apache, mode, how):
    if mode != "daemon":
        pytest.skip("embedded: the MPM's worker thread mask, which mod_wsgi keeps too")
    got = report(apache, how)
    assert got["SigBlk"] == 0, f"{how}: blocked {got['SigBlk']:#x}"


@pytest.mark.parametrize("how", ["subprocess", "subprocess-raw", "system", "posix_spawn"])
def test_a_child_ignores_only_what_python_leaves(apache, mode, how):
    if mode != "daemon":
        pytest.skip("embedded: the MPM's dispositions, which mod_wsgi keeps too")
    got = report(apache, how)
    expected = EXPECTED_IGNORED[how]
    assert got["SigIgn"] == expected, f"{how}: ignored {got['SigIgn']:#x}, expected {expected:#x}"
