"""Where Python lives when daemon mode is used (issue 3).

- WSGIRestrictEmbedded On: Python is never started in Apache's children (no process but
  the daemons maps libpython or mod_gantry_python.so); a URL not delegated to a daemon
  group gets 500 and a line naming the URL and the directive to add.
- WSGILazyInitialization On (the default): Apache's parent maps no Python either.
- WSGILazyInitialization Off: the parent starts Python once, keeps it over graceful
  restarts (its RSS does not grow over 20 of them), children and daemons keep serving.

Figures (run with -s): RSS of an Apache child with Gantry + WSGIRestrictEmbedded On vs one
with no WSGI module loaded; the parent's RSS over 20 graceful restarts."""
import statistics
import time

import pytest

import daemon_procs
import harness

RESTRICTED = """
WSGIRestrictEmbedded On
WSGIDaemonProcess g processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /d @APPS@/daemon.wsgi process-group=g application-group=%{GLOBAL}
WSGIScriptAlias /e @APPS@/hello.wsgi
"""
restricted = harness.server(RESTRICTED)

EAGER = """
WSGILazyInitialization Off
WSGIDaemonProcess g processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /d @APPS@/daemon.wsgi process-group=g application-group=%{GLOBAL}
WSGIScriptAlias /e @APPS@/hello.wsgi
"""
eager = harness.server(EAGER)


def apache_children(apache) -> list[int]:
    daemons = set(daemon_procs.daemon_pids(apache))
    return [p for p in apache.child_pids() if p not in daemons]


def test_delegated_url_is_served(restricted):
    r = restricted.get("/d/info")
    assert r.status == 200 and r.json()["process_group"] == "g"


@pytest.mark.log_ids("GANTRY0044")
def test_url_not_delegated_is_500_naming_the_fix(restricted):
    offset = restricted.log_size()
    r = restricted.get("/e/x")
    assert r.status == 500
    if harness.IS_GANTRY:
        line = restricted.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0044", since=offset)
        assert "/e/x" in line.message and "WSGIProcessGroup" in line.message, line.raw
        assert "WSGIRestrictEmbedded On" in line.message, line.raw
        assert line.severity <= 3


@pytest.mark.gantry_only  # mod_wsgi.so links libpython: every process maps it
@pytest.mark.log_ids("GANTRY0044")
def test_no_apache_process_maps_python(restricted):
    for path in ("/d/info", "/e", "/d/info"):
        restricted.get(path)
    children = apache_children(restricted)
    assert children
    for pid in [restricted.pid] + children:
        assert daemon_procs.maps_python(pid) == [], (pid, daemon_procs.maps_python(pid))
    (daemon,) = daemon_procs.group_pids(restricted, "g")
    assert any("mod_gantry_python" in p for p in daemon_procs.maps_python(daemon))


@pytest.mark.gantry_only
def test_child_rss_restricted_vs_no_wsgi_module(restricted, mpm):
    for _ in range(4):
        restricted.get("/d/info")
    bare = harness.Apache("", mpm=mpm, load_wsgi=False, name="nowsgi")
    try:
        with bare:
            bare.get("/")
            time.sleep(0.2)
            plain = [daemon_procs.kib(p, "VmRSS") for p in bare.child_pids()]
    finally:
        bare.cleanup()
    ours = [daemon_procs.kib(p, "VmRSS") for p in apache_children(restricted)]
    print(f"[{mpm}] Apache child VmRSS: Gantry + WSGIRestrictEmbedded On {sorted(ours)} KiB,"
          f" no WSGI module {sorted(plain)} KiB")
    # Without Python the module costs its own code and config, nothing like an interpreter
    # (an embedded Python 3.11 child is ~10 MiB more).
    assert statistics.median(ours) - statistics.median(plain) < 3 * 1024


@pytest.mark.gantry_only
def test_lazy_initialization_on_keeps_python_out_of_the_parent(restricted):
    assert daemon_procs.maps_python(restricted.pid) == []


def parent_python_starts(apache) -> int:
    return sum(1 for ln in apache.log_lines()
               if ln.pid == apache.pid and ln.gantry_id == "GANTRY0101")


@pytest.mark.gantry_only
def test_lazy_initialization_off_starts_python_once_in_the_parent(eager):
    # (Apache listens before its post_config has run: wait for the parent's line.)
    eager.wait_for_line(lambda ln: ln.pid == eager.pid and ln.gantry_id == "GANTRY0101")
    assert any("libpython3" in p for p in daemon_procs.maps_python(eager.pid))
    assert parent_python_starts(eager) == 1
    assert eager.get("/e").status == 200
    assert eager.get("/d/info").json()["process_group"] == "g"


def served(apache, path, timeout=15.0) -> bool:
    """Waits until `path` answers 200 (old children may reset connections meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if apache.get(path).status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def test_graceful_restarts_with_lazy_initialization_off(eager, mpm):
    eager.get("/e")
    before = daemon_procs.kib(eager.pid, "VmRSS")
    figures = [before]
    for _ in range(20):
        eager.graceful()
        # Each generation serves, embedded and from its daemon, before the next restart.
        assert served(eager, "/d/info") and served(eager, "/e")
        figures.append(daemon_procs.kib(eager.pid, "VmRSS"))
    after = daemon_procs.kib(eager.pid, "VmRSS")
    print(f"[{mpm}] parent VmRSS over 20 graceful restarts (KiB): {figures} -> {after}")
    if not harness.IS_GANTRY:
        pytest.skip("mod_wsgi 4.9.4's parent grows by about 1.3 MiB per graceful restart with"
                    " WSGILazyInitialization Off (figures printed with -s)")
    assert parent_python_starts(eager) == 1  # kept, not started again
    assert after - before < 2 * 1024, figures
