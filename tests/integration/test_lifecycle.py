"""Process lifecycle in embedded mode: a graceful restart (SIGUSR1) replaces the children,
which must exit on their own (Python torn down without hanging), and the new generation
serves; the final stop (checked by the harness) leaves no process behind."""
import time

import pytest

import harness

# Embedded interpreter lifecycle in Apache's children.
pytestmark = pytest.mark.embedded_only

apache = harness.server("""
WSGIScriptAlias /app @APPS@/interp.wsgi
WSGIScriptAlias /global @APPS@/interp.wsgi
<Location /global>
  WSGIApplicationGroup %{GLOBAL}
</Location>
""")


def test_graceful_restart_replaces_children(apache):
    assert apache.get("/app").status == 200
    assert apache.get("/global").status == 200
    before = set(apache.child_pids())
    assert before
    apache.graceful()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not before & set(apache.child_pids()):
            break
        time.sleep(0.05)
    assert not before & set(apache.child_pids()), "old children did not exit after graceful"
    for _ in range(3):
        r = apache.get("/app")
        assert r.status == 200
        assert r.json()["pid"] not in before
    assert apache.get("/global").status == 200
    apache.wait_for_log(r"(?i)graceful restart")
