"""Every configuration in conf-examples/ loads in a real Apache and serves its application
the way its comments say.

- daemon-single.conf: one group "myapplication", 1 process x 4 threads, named so in ps.
- partitioning.conf: WSGIRestrictEmbedded On + three groups; each URL is served by a process
  of the right group, the home page's SetEnv reaches the app, Apache's children and parent
  never map Python, and a 50 MB request in /admin grows only the admin process's memory.
- django-daemon.conf: a project made by `django-admin startproject` (Debian's python3-django),
  in a venv given as python-home="...", its directory as python-path="...": the start page.
- graphite.conf: Graphite's vhost with a stand-in app, preloaded by WSGIImportScript in each of
  the 5 processes named (wsgi:graphite-web) before any request; /static/ from Apache.
- flask-directory.conf: Flask apps in a directory mapped by WSGIScriptAlias (python3-flask).

The files use @NAME@ placeholders for the directories they need; each fixture builds those
directories in the ServerRoot and substitutes them (@PORT@ is the harness's own)."""
import shutil
import subprocess
import time

import pytest

import daemon_procs
import harness

EXAMPLES = harness.REPO_ROOT / "conf-examples"


def example_server(name: str, prepare, **placeholders: str):
    """A module-scoped fixture running conf-examples/`name` once per MPM: each @KEY@ of
    `placeholders` becomes ServerRoot/VALUE, which `prepare(apache)` fills."""
    @pytest.fixture(scope="module")
    def _server(mpm):
        text = (EXAMPLES / name).read_text()
        for key, rel in placeholders.items():
            text = text.replace(f"@{key}@", f"@ROOT@/{rel}")
        apache = harness.Apache(text, mpm=mpm, name=name.split(".")[0])
        with harness.running(apache, prepare):
            yield apache
    return _server


def copy_example_dir(name: str):
    """A `prepare` that copies conf-examples/`name` into the ServerRoot under the same name."""
    def prepare(apache):
        shutil.copytree(EXAMPLES / name, apache.root / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return prepare


# Added to the generated Django project: response headers saying where it runs, so the test
# sees python-home= (sys.prefix) without changing what the project serves.
DJANGO_WHERE = """\
import sys


class Where:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Python-Prefix"] = sys.prefix
        response["X-Process-Group"] = request.META.get("mod_wsgi.process_group", "")
        return response
"""


def make_django_project(apache):
    site = apache.root / "django-site"
    site.mkdir()
    subprocess.run(["/usr/bin/django-admin", "startproject", "mysite", str(site)], check=True,
                   timeout=60)
    (site / "mysite" / "where.py").write_text(DJANGO_WHERE)
    with open(site / "mysite" / "settings.py", "a") as settings:
        settings.write('\nMIDDLEWARE.insert(0, "mysite.where.Where")  # added by the test\n')
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", "--system-site-packages",
                    str(apache.root / "venv")], check=True, timeout=60)


def make_graphite(apache):
    copy_example_dir("graphite-standin")(apache)
    (apache.root / "graphite-standin" / "storage").chmod(0o777)  # the app runs as www-data


single = example_server("daemon-single.conf", copy_example_dir("sample-app"),
                        SAMPLE_APP="sample-app")
partitioned = example_server("partitioning.conf", copy_example_dir("sample-app"),
                             SAMPLE_APP="sample-app")
django = example_server("django-daemon.conf", make_django_project,
                        DJANGO_SITE="django-site", VENV="venv")
graphite = example_server("graphite.conf", make_graphite, GRAPHITE="graphite-standin")
flask = example_server("flask-directory.conf", copy_example_dir("flask-apps"),
                       FLASK_APPS="flask-apps")


def test_every_example_is_tested():
    tested = {"daemon-single.conf", "partitioning.conf", "django-daemon.conf", "graphite.conf",
              "flask-directory.conf"}
    assert {p.name for p in EXAMPLES.glob("*.conf")} == tested


def info(apache, path):
    return apache.get_json(path)


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


# ---- django-daemon.conf ------------------------------------------------------------------

def test_django_project_serves_its_start_page(django):
    r = django.get("/")
    assert r.status == 200, (r.status, r.text)
    assert "The install worked successfully! Congratulations!" in r.text
    # In the group named after the site, in the venv given by python-home="...".
    assert r.header("X-Process-Group") == "example.com"
    assert r.header("X-Python-Prefix") == str(django.root / "venv")


def test_django_routes_the_rest(django):
    r = django.get("/admin/login/")
    assert r.status == 200, (r.status, r.text)
    assert "Django administration" in r.text


# ---- graphite.conf -----------------------------------------------------------------------

def graphite_markers(graphite) -> set[int]:
    """Pids of the processes that imported the stand-in app (storage/imported.PID)."""
    storage = graphite.root / "graphite-standin" / "storage"
    return {int(p.name.split(".")[1]) for p in storage.glob("imported.*")}


def test_graphite_app_is_preloaded_in_every_process(graphite):
    # WSGIImportScript ... process-group=graphite-web application-group=%{GLOBAL}: each of
    # the 5 daemon processes imports the app at start-up, before it has served anything (no
    # test has sent this server a request yet).
    deadline = time.monotonic() + 15
    while len(graphite_markers(graphite)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    preloaded = graphite_markers(graphite)
    assert len(preloaded) == 5, preloaded
    # ... and they are the group's processes, named by display-name='%{GROUP}' (mod_wsgi cuts
    # the name to the length of Apache's argv[0]: "(wsgi:graphite-we").
    for pid in preloaded:
        assert daemon_procs.cmdline(pid).startswith("(wsgi:graphite-we"), (pid, daemon_procs.cmdline(pid))


def test_graphite_app_answers_from_its_group(graphite):
    e = info(graphite, "/render?target=x")
    assert e["app"] == "graphite stand-in"
    assert e["process_group"] == "graphite-web"
    assert e["application_group"] == ""  # %{GLOBAL}
    # The alias reuses the module WSGIImportScript loaded: graphite.wsgi ran once, and in a
    # process that had imported it before this request.
    assert e["script_executions"] == 1
    assert e["pid"] in graphite_markers(graphite)


def test_graphite_static_files_come_from_apache(graphite):
    r = graphite.get("/static/css/default.css")
    css = (EXAMPLES / "graphite-standin" / "static" / "css" / "default.css").read_bytes()
    assert r.status == 200 and r.body == css


# ---- flask-directory.conf ----------------------------------------------------------------

def test_flask_app_in_a_directory_serves_its_index(flask):
    r = flask.get("/apps/hello.wsgi/")
    assert r.status == 200 and r.body == b"Hello from Flask!\n", (r.status, r.text)


def test_flask_routes_and_urls_carry_the_script_name(flask):
    e = info(flask, "/apps/hello.wsgi/greet/Ada")
    assert e["greeting"] == "Hello, Ada!"
    assert e["url"] == "/apps/hello.wsgi/greet/Ada"
    # display-name="flask apps": the daemon shows the quoted name, space included.
    assert daemon_procs.cmdline(e["pid"]).startswith("flask apps"), daemon_procs.cmdline(e["pid"])


def test_flask_unknown_route_is_flasks_404(flask):
    r = flask.get("/apps/hello.wsgi/nowhere")
    assert r.status == 404 and "Not Found" in r.text
