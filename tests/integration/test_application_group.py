"""WSGIApplicationGroup picks the (sub-)interpreter: %{GLOBAL} is the main interpreter,
%{SERVER}, %{RESOURCE}, %{ENV:var} and literals name sub-interpreters. Requests go over one
keep-alive connection so they hit one process; distinct interpreters there have distinct
sys.modules and separate per-interpreter counters."""
import pytest

import harness

apache = harness.server("""
WSGIScriptAlias /global @APPS@/interp.wsgi
WSGIScriptAlias /server @APPS@/interp.wsgi
WSGIScriptAlias /resource-a @APPS@/interp.wsgi
WSGIScriptAlias /resource-b @APPS@/interp.wsgi
WSGIScriptAlias /default @APPS@/interp.wsgi
WSGIScriptAlias /env @APPS@/interp.wsgi
WSGIScriptAlias /literal-1 @APPS@/interp.wsgi
WSGIScriptAlias /literal-2 @APPS@/interp.wsgi
<Location /global>
  WSGIApplicationGroup %{GLOBAL}
</Location>
<Location /server>
  WSGIApplicationGroup %{SERVER}
</Location>
<Location /resource-a>
  WSGIApplicationGroup %{RESOURCE}
</Location>
<Location /resource-b>
  WSGIApplicationGroup %{RESOURCE}
</Location>
<Location /env>
  SetEnv GANTRY_GROUP group-from-env
  WSGIApplicationGroup %{ENV:GANTRY_GROUP}
</Location>
<Location /literal-1>
  WSGIApplicationGroup shared-literal
</Location>
<Location /literal-2>
  WSGIApplicationGroup shared-literal
</Location>
""")

URLS = ["/global", "/server", "/resource-a", "/resource-b", "/default", "/env",
        "/literal-1", "/literal-2"]


@pytest.fixture(scope="module")
def report(apache):
    """GETs each URL twice over one connection; returns url -> (first, second) reports.
    Module-scoped: computed once, on a fresh server."""
    conn = apache.connection()
    try:
        out = {}
        for url in URLS:
            first = apache.get(url, conn=conn).json()
            out[url] = [first]
        for url in URLS:
            out[url].append(apache.get(url, conn=conn).json())
    finally:
        conn.close()
    pids = {r["pid"] for pair in out.values() for r in pair}
    assert len(pids) == 1, "keep-alive requests should stay in one process"
    return out


def test_group_names(apache, report):
    server = f"127.0.0.1:{apache.port}"
    expected = {
        "/global": "",
        "/server": server,
        "/resource-a": f"{server}|/resource-a",
        "/resource-b": f"{server}|/resource-b",
        "/default": f"{server}|/default",
        "/env": "group-from-env",
        "/literal-1": "shared-literal",
        "/literal-2": "shared-literal",
    }
    got = {url: pair[0]["application_group"] for url, pair in report.items()}
    assert got == expected


def test_embedded_process_group_is_empty(report):
    assert {pair[0]["process_group"] for pair in report.values()} == {""}


def test_each_group_is_its_own_interpreter(report):
    interp = {url: pair[0]["interp"] for url, pair in report.items()}
    # Same literal group from two URLs: one interpreter.
    assert interp["/literal-1"] == interp["/literal-2"]
    others = [interp[u] for u in URLS if u != "/literal-2"]
    assert len(set(others)) == len(others), interp


def test_interpreter_survives_between_requests(report):
    for url, (first, second) in report.items():
        assert first["interp"] == second["interp"], url
        assert second["hits"] == first["hits"] + (2 if url.startswith("/literal") else 1), url


def test_literal_group_shares_module_state(report):
    # The per-interpreter counter counts the hits of both URLs of the shared group.
    a1, a2 = report["/literal-1"]
    b1, b2 = report["/literal-2"]
    assert [a1["hits"], b1["hits"], a2["hits"], b2["hits"]] == \
        [a1["hits"], a1["hits"] + 1, a1["hits"] + 2, a1["hits"] + 3]


@pytest.mark.gantry_only
def test_groups_stay_separate_over_many_requests(apache):
    """Threads that served several interpreters must still run each request in its own
    group's interpreter. (mod_wsgi 4.9.4 on Python 3.11 with the event MPM fails this: after a
    few rounds a %{GLOBAL} request runs in a sub-interpreter the thread used before - the
    PyGILState API does not mix with sub-interpreters.)"""
    seen = {}
    for _ in range(8):
        conn = apache.connection()
        try:
            for url in URLS:
                j = apache.get(url, conn=conn).json()
                key = (j["pid"], url)
                assert j["application_group"] == seen.get(key, (j["application_group"],))[0]
                if key in seen:
                    assert j["interp"] == seen[key][1], (url, "changed interpreter")
                seen[key] = (j["application_group"], j["interp"])
        finally:
            conn.close()
    by_pid = {}
    for (pid, url), (_, interp) in seen.items():
        by_pid.setdefault(pid, {})[url] = interp
    for pid, interp in by_pid.items():
        distinct = {interp[u] for u in interp if u != "/literal-2"}
        assert len(distinct) == len([u for u in interp if u != "/literal-2"]), interp
