"""mod_wsgi directives Gantry does not implement (obsolete or irrelevant to it) are
accepted so existing configs keep working, each with one warning naming it."""
import pytest

import harness

UNKNOWN = {
    "WSGIPythonEggs": "WSGIPythonEggs /tmp/gantry-eggs",
    "WSGIAcceptMutex": "WSGIAcceptMutex default",
    "WSGIVerboseDebugging": "WSGIVerboseDebugging Off",
}
CONFIG = "\n".join(UNKNOWN.values()) + "\nWSGIScriptAlias /app @APPS@/hello.wsgi\n"

apache = harness.server(CONFIG)


def test_config_with_unknown_directives_accepted(apache):
    rc, out = apache.config_test()
    assert rc == 0, out
    assert "Syntax OK" in out


def test_server_runs_with_them(apache):
    r = apache.get("/app")
    assert (r.status, r.body) == (200, b"Hello from WSGI\n")


@pytest.mark.gantry_only
@pytest.mark.parametrize("directive", sorted(UNKNOWN))
def test_one_warning_each(apache, directive):
    # `apache2 -t` does not run the post-config phase, so it may or may not say anything;
    # never more than once.
    rc, out = apache.config_test()
    assert len([ln for ln in out.splitlines() if directive in ln]) <= 1, out
    # The running server's error log has exactly one warning naming it, with an id.
    logged = [ln for ln in apache.log_lines() if directive in ln.message]
    assert len(logged) == 1, apache.read_all_logs()
    assert logged[0].level == "warn" and logged[0].gantry_id, logged[0].raw
