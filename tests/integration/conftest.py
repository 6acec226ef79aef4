"""pytest wiring for the real-Apache integration tests.

- `mpm`: every request-making test runs under the event and the prefork MPM.
- `server(config)`: builds a module-scoped Apache fixture for one config, shared by the tests
  of a file (tests are grouped by config to keep the run fast).
- After every test: the error logs of the running Apaches must show no crash and no GANTRY id
  at error level or above that the test did not declare with @pytest.mark.log_ids(...).
  Apache.stop() then requires that every process the Apache had is gone.
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


@pytest.fixture(scope="module", params=harness.MPMS)
def mpm(request):
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
    problems = []
    for a, offset in watched:
        for line in a.problems(offset, ids):
            problems.append(f"{a.root.name}: {line}")
    harness.CURRENT_ALLOWED_IDS.clear()
    if problems:
        pytest.fail("error log has crashes or undeclared GANTRY errors:\n" +
                    "\n".join(problems), pytrace=False)
