"""pytest wiring for the real-Apache integration tests.

- `mpm`: every request-making test runs under the event and the prefork MPM.
- `mode`: tests of harness.server() configs run embedded and in daemon mode (the config
  delegated to one WSGIDaemonProcess group, harness.DAEMON_CONFIG); a file or test marked
  @pytest.mark.embedded_only runs embedded only, and so does one whose server config
  declares its own WSGIDaemonProcess (it chose where its apps run).
- `server(config)`: builds a module-scoped Apache fixture for one config, shared by the tests
  of a file (tests are grouped by config to keep the run fast).
- After every test: the error logs of the running Apaches must show no crash and no GANTRY id
  at error level or above that the test did not declare with @pytest.mark.log_ids(...).
  Apache.stop() then requires that every process the Apache had is gone.
- @pytest.mark.allow_child_crash(count=N): the test crashes N Apache children on purpose
  (reliability checklist R23). Exactly N parent lines "AH00052: child pid P exit signal ..."
  must appear during the test (fewer or more fails it); those N lines, and no other crash
  line, are then excused for the rest of the server's checks (its stop check included).
- @pytest.mark.gantry_only_in_daemon("why"): as gantry_only, for the daemon-mode run only
  (where mod_wsgi's daemon mode behaves differently from its embedded mode).
- @pytest.mark.gantry_only: Gantry is intentionally stricter or more specific than mod_wsgi
  (its own log ids, header validation); skipped with GANTRY_TEST_MODULE=mod_wsgi unless
  GANTRY_TEST_RUN_GANTRY_ONLY=1 (to see where the reference differs).
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "gantry_only: check only meaningful for mod_gantry")
    config.addinivalue_line("markers",
                            "log_ids(*ids): GANTRY ids this test expects at error level")
    config.addinivalue_line("markers",
                            "embedded_only: the config only makes sense in embedded mode")
    config.addinivalue_line("markers",
                            "allow_child_crash(count=1): the test crashes exactly `count` "
                            "Apache children on purpose")
    config.addinivalue_line("markers",
                            "gantry_only_in_daemon(reason): mod_wsgi's daemon mode differs "
                            "(reason); skipped for it in daemon mode only")


def pytest_report_header(config):
    return (f"gantry integration: module={harness.MODULE} ({harness.module_path()}), "
            f"mpms={','.join(harness.MPMS)}")


def pytest_collection_modifyitems(config, items):
    if harness.IS_GANTRY or harness.os.environ.get("GANTRY_TEST_RUN_GANTRY_ONLY"):
        return
    skip = pytest.mark.skip(reason="gantry-only check (GANTRY_TEST_MODULE=mod_wsgi)")
    for item in items:
        if item.get_closest_marker("gantry_only"):
            item.add_marker(skip)
        daemon_diff = item.get_closest_marker("gantry_only_in_daemon")
        callspec = getattr(item, "callspec", None)
        if daemon_diff and callspec and callspec.params.get("mode") == "daemon":
            item.add_marker(pytest.mark.skip(
                reason=f"mod_wsgi's daemon mode differs: {daemon_diff.args[0]}"))


@pytest.fixture(scope="module", params=harness.MPMS)
def mpm(request):
    return request.param


def pytest_generate_tests(metafunc):
    if "mode" not in metafunc.fixturenames:
        return
    modes = harness.MODES
    own_mode = any(getattr(getattr(metafunc.module, name, None), "gantry_own_mode", False)
                   for name in metafunc.fixturenames)
    if own_mode:
        # Rendered as-is ("embedded": no DAEMON_CONFIG added); its own groups do the rest.
        metafunc.parametrize("mode", ["embedded"], ids=["own-groups"], scope="module",
                             indirect=True)
        return
    if metafunc.definition.get_closest_marker("embedded_only"):
        modes = [m for m in modes if m == "embedded"]
    metafunc.parametrize("mode", modes, scope="module", indirect=True)


@pytest.fixture(scope="module")
def mode(request):
    return request.param


def declared_ids(node) -> set:
    ids = set()
    for mark in node.iter_markers("log_ids"):
        ids.update(mark.args)
    return ids


@pytest.fixture(autouse=True)
def log_guard(request):
    ids = declared_ids(request.node)
    harness.CURRENT_ALLOWED_IDS.clear()
    harness.CURRENT_ALLOWED_IDS.update(ids)
    watched = [(a, a.log_size()) for a in list(harness.RUNNING)]
    for a, _ in watched:
        a.allowed_ids |= ids
    yield
    problems = excuse_child_crashes(request.node, watched)
    for a, offset in watched:
        for line in a.problems(offset, ids):
            problems.append(f"{a.root.name}: {line}")
    harness.CURRENT_ALLOWED_IDS.clear()
    if problems:
        pytest.fail("error log has crashes or undeclared GANTRY errors:\n" +
                    "\n".join(problems), pytrace=False)


def excuse_child_crashes(node, watched) -> list[str]:
    """allow_child_crash(count=N): exactly N child-crash lines appeared in the servers' logs
    during the test; they are excused from every later check of those servers. Returns the
    problem if the count differs (the crash lines then stay problems too)."""
    mark = node.get_closest_marker("allow_child_crash")
    if mark is None:
        return []
    expected = mark.kwargs.get("count", 1)
    seen = [(a, ln) for a, offset in watched for ln in a.child_crashes(offset)]
    if len(seen) != expected:
        return [f"allow_child_crash(count={expected}) but {len(seen)} child crash line(s): "
                + "; ".join(ln.raw for _, ln in seen)]
    for a, ln in seen:
        a.excused.add(ln.raw)
    return []
