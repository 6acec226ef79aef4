"""Apache's parent stops its daemon processes; when it dies without doing so (kill -9, a
crash), the daemons - and the spare a recycling group keeps - must not live on as orphans
holding memory and the application's resources: the kernel tells them (SIGTERM) and they go."""
import os
import signal
import time

import pytest

import daemon_procs
import harness

pytestmark = [pytest.mark.gantry_only, pytest.mark.embedded_only]

CONFIG = """
WSGIDaemonProcess plain display-name=%{GROUP} processes=2 threads=2
WSGIDaemonProcess recycling display-name=%{GROUP} processes=1 threads=2 maximum-requests=1000
WSGIScriptAlias /plain @APPS@/env.wsgi process-group=plain application-group=%{GLOBAL}
WSGIScriptAlias /recycling @APPS@/env.wsgi process-group=recycling application-group=%{GLOBAL}
"""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its (new) parent to reap it."""
    return daemon_procs.status(pid).get("State", "Z").split()[0] not in ("Z", "X")


def test_daemons_exit_when_the_apache_parent_is_killed(mpm):
    apache = harness.Apache(CONFIG, mpm=mpm, name="parent-death")
    try:
        apache.start()
        for path in ("/plain", "/recycling"):
            assert apache.get(path).status == 200
        daemons = daemon_procs.daemon_pids(apache)
        # 2 plain + 1 recycling + its spare ("(wsgi:recycling) spare", waiting to take over).
        assert len(daemons) >= 3, daemons
        # The spawner that started them (docs/spawner.md) must not outlive the parent either.
        daemons += [p for p in apache.child_pids() if daemon_procs.cmdline(p) == "(gantry-spawner)"]
        os.kill(apache.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in daemons) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [(p, daemon_procs.cmdline(p)) for p in daemons if alive(p)]
        assert not survivors, survivors
    finally:
        apache._kill_hard()  # the Apache children the dead parent left
        apache.cleanup()
