"""Process-wide Python settings: WSGIPythonHome (Debian's prefix /usr, and a virtualenv:
its site-packages is on the path, sys.prefix is the venv; the same for a daemon group's
python-home=), WSGIPythonPath (':'-separated list, in every interpreter),
WSGIPythonOptimize, and WSGIImportScript preloading into %{GLOBAL} at process start. One
server per setting group, so a failure of one setting cannot hide others."""
import subprocess

import pytest

import harness

# WSGIPython* options configure embedded Python (daemons take python-path= etc.).
pytestmark = pytest.mark.embedded_only

APPS = """
WSGIScriptAlias /global @APPS@/interp.wsgi
<Location /global>
  WSGIApplicationGroup %{GLOBAL}
</Location>
WSGIScriptAlias /sub @APPS@/interp.wsgi
"""

OPTIONS = """
WSGIPythonHome /usr
WSGIPythonPath "@APPS@/lib:@APPS@/pth_site:@APPS@/lib2"
WSGIPythonOptimize 2
WSGIImportScript @APPS@/import_marker.py process-group=%{GLOBAL} application-group=%{GLOBAL}
""" + APPS

VENV = """
WSGIPythonHome @ROOT@/venv
""" + APPS

# The same virtualenv as a daemon group's python-home= (no WSGIPythonHome).
VENV_DAEMON = """
WSGIDaemonProcess venv-daemon processes=1 threads=2 python-home=@ROOT@/venv
WSGIProcessGroup venv-daemon
""" + APPS

# A daemon group's python-path=: site directories too.
PATH_DAEMON = """
WSGIDaemonProcess site-dirs processes=1 threads=2 python-path=@APPS@/lib:@APPS@/pth_site:@APPS@/lib2
WSGIProcessGroup site-dirs
""" + APPS

options_server = harness.server(OPTIONS)


def make_venv(apache):
    venv = apache.root / "venv"
    subprocess.run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "gantry_venv_marker.py").write_text('MARKER = "venv site-packages"\n')


@pytest.fixture(scope="module")
def venv_server(mpm):
    with harness.running(harness.Apache(VENV, mpm=mpm, name="venv"), make_venv) as a:
        yield a


@pytest.fixture(scope="module")
def venv_daemon_server(mpm):
    with harness.running(harness.Apache(VENV_DAEMON, mpm=mpm, name="venv-daemon"), make_venv) as a:
        yield a


@pytest.fixture(scope="module")
def path_daemon_server(mpm):
    with harness.running(harness.Apache(PATH_DAEMON, mpm=mpm, name="path-daemon")) as a:
        yield a


def fetch(apache):
    conn = apache.connection()
    try:
        out = {}
        for url in ("/global", "/sub"):
            r = apache.get(url, conn=conn)
            assert r.status == 200, f"{url}: {r.status}; error log:\n{apache.log_text()}"
            out[url] = r.json()
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def reports(options_server):
    return fetch(options_server)


def test_python_home_debian_prefix(reports):
    for url, j in reports.items():
        assert (j["prefix"], j["base_prefix"]) == ("/usr", "/usr"), url


def test_python_home_is_a_venv(venv_server):
    for url, j in fetch(venv_server).items():
        assert j["prefix"] == str(venv_server.root / "venv"), url
        assert j["base_prefix"] == "/usr", url
        assert j["venv_marker"] == "venv site-packages", url


def test_daemon_python_home_is_a_venv(venv_daemon_server):
    for url, j in fetch(venv_daemon_server).items():
        assert j["process_group"] == "venv-daemon", url
        assert j["prefix"] == str(venv_daemon_server.root / "venv"), url
        assert j["base_prefix"] == "/usr", url
        assert j["venv_marker"] == "venv site-packages", url


def test_python_path_in_every_interpreter(options_server, reports):
    for url, j in reports.items():
        assert j["testlib"] == "gantry_testlib from WSGIPythonPath", url
        assert j["testlib2"] == "gantry_testlib2 from WSGIPythonPath", url
        assert str(options_server.apps / "lib") in j["path"]


def assert_site_directories(apache, reports):
    """python-path entries are added with site.addsitedir() as mod_wsgi does: the .pth file
    of pth_site adds pth_site/pth_added and runs its import line (once per interpreter), and
    the entries with what they added lead sys.path, in order."""
    apps = str(apache.apps)
    for url, j in reports.items():
        assert j["path"][:4] == [f"{apps}/lib", f"{apps}/pth_site", f"{apps}/pth_site/pth_added",
                                 f"{apps}/lib2"], url
        assert j["pth_lib"] == "gantry_pth_lib from a .pth file", url
        assert j["pth_runs"] == 1, url


def test_python_path_entries_are_site_directories(options_server, reports):
    assert_site_directories(options_server, reports)


def test_daemon_python_path_entries_are_site_directories(path_daemon_server):
    reports = fetch(path_daemon_server)
    assert reports["/sub"]["process_group"] == "site-dirs"
    assert_site_directories(path_daemon_server, reports)


def test_python_optimize(reports):
    for url, j in reports.items():
        assert j["optimize"] == 2, url
        assert j["docstrings"] is False, url


def test_import_script_preloads_global(reports):
    # interp.wsgi never imports import_marker.py itself: the marker can only come from the
    # preload at process start.
    marker = reports["/global"]["import_marker"]
    assert marker and marker == f"preloaded in pid {reports['/global']['pid']}"
    # Sub-interpreters do not see what was imported into the main one.
    assert reports["/sub"]["import_marker"] is None
    assert reports["/sub"]["application_group"] != ""
