"""WSGIApplicationGroup picks the (sub-)interpreter: %{GLOBAL} is the main interpreter,
%{SERVER}, %{RESOURCE}, %{ENV:var} and literals name sub-interpreters. Requests go over one
keep-alive connection so they hit one process; distinct interpreters there have distinct
sys.modules and separate per-interpreter counters."""
import threading

import pytest

import harness

# The fixture relies on keep-alive pinning requests to one process (embedded only).
pytestmark = pytest.mark.embedded_only

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
WSGIScriptAlias /concurrent @APPS@/slow_load.wsgi
<Location /concurrent>
  SetEnvIf X-Group "^(new-[0-9]+-[0-9]+)$" GANTRY_NEW_GROUP=$1
  WSGIApplicationGroup %{ENV:GANTRY_NEW_GROUP}
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


def test_concurrent_first_requests_to_new_groups(apache, mpm):
    """Many threads hit application groups nobody used before at the same moment: each group's
    sub-interpreter is created once and its script loaded once, and every request succeeds.
    (Event MPM children were reported crashing in this path.) The log guard fails the test
    on a crash line."""
    threads_per_round, groups_per_round, rounds = 8, 3, 4
    failures, results = [], []

    def hit(group, barrier):
        conn = apache.connection()
        try:
            barrier.wait(timeout=10)
            r = apache.get("/concurrent", headers={"X-Group": group}, conn=conn)
            if r.status != 200:
                failures.append((group, r.status, r.text))
            else:
                results.append((group, r.json()))
        except Exception as e:  # noqa: BLE001 - any failure is reported below
            failures.append((group, repr(e)))
        finally:
            conn.close()

    for n in range(rounds):
        barrier = threading.Barrier(threads_per_round)
        workers = [threading.Thread(target=hit, args=(f"new-{n}-{i % groups_per_round}", barrier))
                   for i in range(threads_per_round)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
    assert not failures, f"{failures}\nerror log:\n{apache.log_text()[-4000:]}"
    assert len(results) == threads_per_round * rounds
    interps = {}
    for group, j in results:
        assert j["application_group"] == group
        assert j["loads"] == 1, (group, j)  # the script ran once in that interpreter
        interps.setdefault((j["pid"], group), set()).add(j["interp"])
    assert all(len(v) == 1 for v in interps.values()), interps  # one interpreter per group


THREADS_CONFIG = """
WSGIScriptAlias /threads-global @APPS@/threads.wsgi
<Location /threads-global>
  WSGIApplicationGroup %{GLOBAL}
</Location>
"""


@pytest.mark.parametrize("where", harness.MODES)
def test_threading_main_thread_is_not_a_request_thread(mpm, where):
    """threading is imported when the interpreter starts, so threading.main_thread() is the
    thread that started Python - not the request thread that happened to import threading
    first (the app's first request here imports it). Request threads are never the main
    thread, except in embedded prefork, where the process's only thread serves (as under
    mod_wsgi). A fresh server: nothing else ran in it before."""
    a = harness.Apache(THREADS_CONFIG, mpm=mpm, mode=where, name="threads")
    try:
        with a:
            conn = a.connection()
            try:
                reports = [a.get("/threads-global", conn=conn).json() for _ in range(4)]
            finally:
                conn.close()
    finally:
        a.cleanup()
    serving_main = mpm == "prefork" and where == "embedded"
    for r in reports:
        assert r["main_name"] == "MainThread", r
        assert r["main_alive"] is True, r
        assert r["current_is_main"] is serving_main, r
        assert (r["main_ident"] == r["ident"]) is serving_main, r
    by_pid = {}
    for r in reports:
        by_pid.setdefault(r["pid"], set()).add(r["main_ident"])
    assert all(len(v) == 1 for v in by_pid.values()), by_pid
