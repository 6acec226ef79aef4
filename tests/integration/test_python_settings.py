"""Process-wide Python settings from directives, in every process that runs Python
(Apache's children embedded, each daemon process), as mod_wsgi 4.9.4 applies them:

- WSGIPythonHashSeed N: PYTHONHASHSEED semantics, so hash() of a str is the same in every
  process and equals what `PYTHONHASHSEED=N python3` computes.
- WSGIDontWriteBytecode On: sys.dont_write_bytecode.
- WSGIPythonWarnings (repeatable): sys.warnoptions, in order.
- WSGISwitchInterval (mod_wsgi 6, embedded) / switch-interval= (daemon):
  sys.getswitchinterval(); a daemon group does not inherit WSGISwitchInterval."""
import os
import subprocess

import pytest

import harness

SEED = 12345
WARNINGS = ["ignore::DeprecationWarning", "error::UserWarning"]

CONFIG = f"""
WSGIPythonHashSeed {SEED}
WSGIDontWriteBytecode On
WSGIPythonWarnings {WARNINGS[0]}
WSGIPythonWarnings {WARNINGS[1]}
WSGIScriptAlias /f @APPS@/python_flags.wsgi
"""
apache = harness.server(CONFIG)

# mod_wsgi 6's directive and option (mod_wsgi 4.9.4 refuses both: gantry_only).
SWITCH = """
WSGISwitchInterval 0.002
WSGIScriptAlias /f @APPS@/python_flags.wsgi
WSGIDaemonProcess sw processes=1 threads=2 switch-interval=0.0125
WSGIScriptAlias /d @APPS@/python_flags.wsgi process-group=sw
"""
switch_server = harness.server(SWITCH)


def expected_hash() -> int:
    probe = "print(hash('gantry hash seed probe'))"
    env = dict(os.environ, PYTHONHASHSEED=str(SEED))
    out = subprocess.run(["/usr/bin/python3.11", "-c", probe], env=env, check=True,
                         capture_output=True, text=True).stdout
    return int(out)


def reports_from_processes(apache, url, processes):
    """One report per distinct pid, from at least `processes` processes (each request on
    a new connection, so the prefork MPM spreads them over its children)."""
    by_pid = {}
    for _ in range(60):
        r = apache.get(url, conn=None)
        assert r.status == 200, f"{r.status}: {r.text}\n{apache.log_text()}"
        j = r.json()
        by_pid[j["pid"]] = j
        if len(by_pid) >= processes:
            break
    return list(by_pid.values())


def test_hash_seed_fixes_str_hash(apache, mode, mpm):
    # Daemon: the harness's group has 2 processes; prefork: several children. The event
    # MPM may serve everything from one child: one process is all it can show.
    want = 1 if (mode == "embedded" and mpm == "event") else 2
    reports = reports_from_processes(apache, "/f", want)
    seed_hash = expected_hash()
    for j in reports:
        assert j["hash"] == seed_hash, reports
        assert j["hash_randomization"] == 1, reports  # as PYTHONHASHSEED=12345 python3


def test_dont_write_bytecode(apache):
    assert apache.get("/f").json()["dont_write_bytecode"] is True


def test_python_warnings_in_order(apache):
    assert apache.get("/f").json()["warnoptions"] == WARNINGS


@pytest.mark.gantry_only
def test_switch_interval(switch_server):
    embedded = switch_server.get("/f").json()
    assert embedded["process_group"] == ""
    assert embedded["switchinterval"] == pytest.approx(0.002)
    daemon = switch_server.get("/d").json()
    assert daemon["process_group"] == "sw"
    assert daemon["switchinterval"] == pytest.approx(0.0125)
    # Each process says what it set (info level, GANTRY0150).
    logged = [ln.message for ln in switch_server.log_lines() if ln.gantry_id == "GANTRY0150"]
    assert any("0.002 s (WSGISwitchInterval)" in m for m in logged), logged
    assert any("0.0125 s (switch-interval=)" in m for m in logged), logged


@pytest.mark.gantry_only
def test_switch_interval_default_is_pythons(apache):
    assert apache.get("/f").json()["switchinterval"] == pytest.approx(0.005)


@pytest.fixture(scope="module")
def checker():
    a = harness.Apache("", mpm="event", name="python-settings-check")
    yield a
    a.cleanup()


@pytest.mark.gantry_only
@pytest.mark.parametrize("snippet,directive", [
    ("WSGISwitchInterval 0", "WSGISwitchInterval"),
    ("WSGISwitchInterval -0.1", "WSGISwitchInterval"),
    ("WSGISwitchInterval 5ms", "WSGISwitchInterval"),
    ("WSGIDaemonProcess g switch-interval=abc", "switch-interval=abc"),
    ("WSGIDaemonProcess g switch-interval=0", "switch-interval=0"),
    ("WSGIDaemonProcess g response-flush-delay=-1", "response-flush-delay=-1"),
    ("WSGIPythonHashSeed 4294967296", "WSGIPythonHashSeed"),
    ("WSGIDontWriteBytecode Yes", "WSGIDontWriteBytecode"),
])
def test_bad_values_refused(checker, snippet, directive):
    rc, out = checker.config_test(snippet)
    assert rc != 0 and directive in out, out


@pytest.mark.gantry_only
def test_mod_wsgi_6_daemon_options_accepted(checker):
    rc, out = checker.config_test(
        "WSGIDaemonProcess g switch-interval=0.001 response-flush-delay=0\n"
        "WSGIDaemonProcess h response-flush-delay=12.5\nWSGIPythonHashSeed random")
    assert rc == 0, out
