"""Every configuration in conf-examples/ loads in a real Apache and serves the sample app
(conf-examples/sample-app) the way its comments say.

- daemon-single.conf: one group "myapplication", 1 process x 4 threads, named so in ps.
- partitioning.conf: WSGIRestrictEmbedded On + three groups; each URL is served by a process
  of the right group, the home page's SetEnv reaches the app, Apache's children and parent
  never map Python, and a 50 MB request in /admin grows only the admin process's memory.

The files use @SAMPLE_APP@ for the app directory; the test copies the app into the
ServerRoot and substitutes it."""
import shutil

import pytest

import daemon_procs
import harness

EXAMPLES = harness.REPO_ROOT / "conf-examples"


def example_server(name: str):
    @pytest.fixture(scope="module")
    def _server(mpm):
        text = (EXAMPLES / name).read_text().replace("@SAMPLE_APP@", "@ROOT@/sample-app")
        apache = harness.Apache(text, mpm=mpm, name=name.split(".")[0])
        copy_app = lambda a: shutil.copytree(EXAMPLES / "sample-app", a.root / "sample-app")  # noqa: E731
        with harness.running(apache, copy_app):
            yield apache
    return _server


single = example_server("daemon-single.conf")
partitioned = example_server("partitioning.conf")


def test_every_example_is_tested():
    tested = {"daemon-single.conf", "partitioning.conf"}
    assert {p.name for p in EXAMPLES.glob("*.conf")} == tested


def info(apache, path):
    r = apache.get(path)
    assert r.status == 200, (path, r.status, r.text)
    return r.json()


# ---- daemon-single.conf ------------------------------------------------------------------

def test_single_group_serves_the_app(single):
    r = single.get("/site.wsgi/")
    assert r.status == 200 and r.body == b"Hello from a WSGI application!\n"
    pids = {info(single, "/site.wsgi/?info")["pid"] for _ in range(6)}
    # processes=1: every request, on a new connection each, reaches the same process.
    assert len(pids) == 1
    e = info(single, "/site.wsgi/x?info")
    assert e["process_group"] == "myapplication"
    assert e["path_info"] == "/x"


def test_single_group_process_is_named(single):
    pid = info(single, "/site.wsgi/?info")["pid"]
    assert daemon_procs.cmdline(pid).split()[0] == "myapplication"
    assert pid in single.child_pids() and pid != single.pid


def test_single_group_echoes_a_body(single):
    r = single.post("/site.wsgi/echo", b"x" * 100000)
    assert r.status == 200 and r.body == b"x" * 100000


# ---- partitioning.conf -------------------------------------------------------------------

ROUTES = [
    ("/?info", "volume", "My Site (volume);My Site"),
    ("/publications/article/?info", "volume", None),
    ("/publications/article/42?info", "volume", None),
    ("/admin?info", "admin", None),
    ("/admin/users?info", "admin", None),
    ("/publications/?info", "main", None),
    ("/elsewhere?info", "main", None),
]


@pytest.mark.parametrize("path,group,app_name", ROUTES)
def test_each_url_is_served_by_its_group(partitioned, path, group, app_name):
    e = info(partitioned, path)
    assert e["process_group"] == group
    assert e["app_name"] == app_name
    assert e["application_group"] == ""  # %{GLOBAL}
    assert e["pid"] in daemon_procs.group_pids(partitioned, group), (
        e["pid"], daemon_procs.cmdline(e["pid"]))


def test_groups_have_their_process_counts(partitioned):
    counts = {g: len(daemon_procs.wait_group(partitioned, g, n))
              for g, n in (("main", 1), ("volume", 3), ("admin", 1))}
    assert counts == {"main": 1, "volume": 3, "admin": 1}
    for pid in daemon_procs.daemon_pids(partitioned):
        # mod_wsgi overwrites argv[0] only; the rest of its command line stays.
        name = daemon_procs.cmdline(pid).split()[0]
        assert name in ("(wsgi:main)", "(wsgi:volume)", "(wsgi:admin)"), name


def test_volume_requests_spread_over_its_processes_only(partitioned):
    volume = set(daemon_procs.group_pids(partitioned, "volume"))
    seen = {info(partitioned, "/?info")["pid"] for _ in range(12)}
    assert seen <= volume


@pytest.mark.gantry_only  # mod_wsgi.so links libpython: every process maps it
def test_apache_processes_never_map_python(partitioned):
    info(partitioned, "/elsewhere?info")
    daemons = set(daemon_procs.daemon_pids(partitioned))
    children = [p for p in partitioned.child_pids() if p not in daemons]
    assert children
    for pid in [partitioned.pid] + children:
        assert daemon_procs.maps_python(pid) == [], (pid, daemon_procs.cmdline(pid))
    for pid in daemons:
        assert daemon_procs.maps_python(pid), pid


def test_admin_allocation_grows_only_the_admin_process(partitioned):
    for path in ("/?info", "/admin?info", "/elsewhere?info"):
        info(partitioned, path)  # every group has loaded the app before measuring
    daemons = {pid: daemon_procs.cmdline(pid).split()[0]
               for pid in daemon_procs.daemon_pids(partitioned)}
    before = {pid: daemon_procs.kib(pid, "VmHWM") for pid in daemons}
    e = info(partitioned, "/admin?alloc=50")
    assert e["process_group"] == "admin" and e["allocated"] == 50 * 1024 * 1024
    after = {pid: daemon_procs.kib(pid, "VmHWM") for pid in daemons}
    rss = {pid: daemon_procs.kib(pid, "VmRSS") for pid in daemons}
    for pid, name in sorted(daemons.items(), key=lambda kv: kv[1]):
        print(f"[{partitioned.mpm}] {name} pid {pid}: VmHWM {before[pid]} -> {after[pid]} KiB,"
              f" VmRSS now {rss[pid]} KiB")
    for pid, name in daemons.items():
        grew = after[pid] - before[pid]
        if pid == e["pid"]:
            assert name == "(wsgi:admin)"
            assert grew >= 45 * 1024, (name, grew)
        else:
            assert grew < 4 * 1024, (name, grew)
