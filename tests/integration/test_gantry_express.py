"""gantry-express (bin/gantry-express): each option is checked in the configuration it writes
and in what the server it starts does; Ctrl-C (SIGINT) and SIGTERM leave no process behind;
setup-server's apachectl starts and stops the server; the checks before start-up fail with
the message that says what to change."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import harness
from express_run import (Express, account_args, launcher_env, make_dir, run_launcher,
                         wait_gone, wait_until, write_app, alive, kill_pids)

pytestmark = pytest.mark.gantry_only  # the launcher is Gantry's own


@pytest.fixture
def app_dir():
    d = make_dir("app")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(app: Path, *args: str, **kw) -> Express:
    """The launcher for `app` with `args`, started by `with` (which stops and removes it)."""
    return Express([str(app), *account_args(), *args], **kw)


@pytest.mark.parametrize("mpm", ["event", "prefork", "worker"])
def test_processes_threads_and_sigint_stop_everything(app_dir, mpm):
    app = write_app(app_dir)
    ex = Express([str(app), *account_args(), "--processes", "2", "--threads", "3",
                  "--mpm", mpm], temporary_root=True)
    try:
        ex.start()
        assert "processes=2" in ex.conf_text and "threads=3" in ex.conf_text
        assert f"mod_mpm_{mpm}.so" in ex.conf_text
        info = ex.get_json("/")
        assert info["group"] == f"127.0.0.1:{ex.port}"
        assert (info["processes"], info["threads"]) == (2, 3)
        if os.geteuid() == 0:
            assert info["uid"] == 33  # www-data
        assert len(ex.wait_daemons(2)) == 2
        root = ex.server_root
        assert ex.interrupt(signal.SIGINT) == 0
        assert not root.exists(), "the temporary server root is removed at exit"
    finally:
        ex.cleanup()


def test_sigterm_stops_everything(app_dir):
    with start(write_app(app_dir)) as ex:
        ex.get_json("/")
        assert len(ex.wait_daemons(1)) == 1
        assert ex.interrupt(signal.SIGTERM) == 0


def test_defaults_mirror_mod_wsgi_express(app_dir):
    with start(write_app(app_dir)) as ex:
        info = ex.get_json("/")
        assert (info["processes"], info["threads"]) == (1, 5)
        assert "processes=" not in ex.conf_text  # as mod_wsgi-express: no processes= by default
        assert f"Listen 127.0.0.1:{ex.port}" in ex.conf_text
        assert info["cwd"] == os.getcwd() and os.getcwd() in info["sys_path"]
        ex.interrupt()


def test_url_alias_and_document_root(app_dir):
    static = make_dir("static")
    docroot = make_dir("docroot")
    try:
        (static / "style.css").write_text("body {}\n")
        (app_dir / "robots.txt").write_text("User-agent: *\n")
        (docroot / "hello.txt").write_text("static hello\n")
        for f in (static / "style.css", app_dir / "robots.txt", docroot / "hello.txt"):
            os.chmod(f, 0o644)
        app = write_app(app_dir)
        with start(app, "--url-alias", "/static", str(static),
                   "--url-alias", "/robots.txt", str(app_dir / "robots.txt"),
                   "--document-root", str(docroot)) as ex:
            assert f'Alias "/static" "{static}"' in ex.conf_text
            assert f'DocumentRoot "{docroot}"' in ex.conf_text
            assert ex.request("/static/style.css").text == "body {}\n"
            assert ex.request("/robots.txt").text == "User-agent: *\n"
            assert ex.request("/hello.txt").text == "static hello\n"
            # What is not a file under the document root goes to the application.
            assert ex.get_json("/missing.txt")["path"] == "/missing.txt"
            assert ex.get_json("/")["path"] == "/"
            ex.interrupt()
    finally:
        shutil.rmtree(static)
        shutil.rmtree(docroot)


def test_python_path_and_working_directory(app_dir):
    lib = make_dir("lib")
    work = make_dir("work")
    try:
        (lib / "helper.py").write_text('VERSION = "from-lib"\n')
        os.chmod(lib / "helper.py", 0o644)
        with start(write_app(app_dir), "--python-path", str(lib),
                   "--working-directory", str(work)) as ex:
            assert f'python-path="{lib}"' in ex.conf_text
            assert f'home="{work}"' in ex.conf_text
            info = ex.get_json("/")
            assert info["helper"] == "from-lib"
            assert info["sys_path"][0] == str(lib)  # python-path entries lead sys.path
            assert info["cwd"] == str(work) and info["sys_path"][-1] == str(work)
            ex.interrupt()
    finally:
        shutil.rmtree(lib)
        shutil.rmtree(work)


def test_maximum_requests_recycles(app_dir):
    with start(write_app(app_dir), "--maximum-requests", "2") as ex:
        assert "maximum-requests=2" in ex.conf_text
        first = {ex.get_json("/")["pid"] for _ in range(2)}
        assert len(first) == 1
        # The third request is served by the next process.
        later = wait_until(lambda: ex.get_json("/")["pid"] not in first, 30, "a new process")
        assert later
        assert "GANTRY0204" in ex.error_log()  # the recycled process said why it exited
        ex.interrupt()


def test_maximum_memory_recycles(app_dir):
    with start(write_app(app_dir), "--maximum-memory", "60M") as ex:
        assert "maximum-memory=60M" in ex.conf_text
        before = ex.get_json("/")["pid"]
        ex.get_json("/?alloc=100")
        wait_until(lambda: ex.get_json("/")["pid"] != before, 30, "a recycled process")
        ex.interrupt()


def test_log_to_terminal_and_access_log(app_dir):
    with start(write_app(app_dir), "--log-to-terminal", "--access-log") as ex:
        assert 'ErrorLog "/dev/stderr"' in ex.conf_text
        ex.get_json("/logged-path")
        wait_until(lambda: "GANTRY0203" in ex.errors(), 10, "the error log on stderr")
        wait_until(lambda: '"GET /logged-path HTTP/1.1" 200' in ex.output(), 10,
                   "the access log on stdout")
        assert not (ex.server_root / "error_log").exists()
        ex.interrupt()


def test_access_log_file(app_dir):
    with start(write_app(app_dir), "--access-log") as ex:
        ex.get_json("/one")
        ex.get_json("/two")
        log = ex.server_root / "access_log"
        wait_until(lambda: log.exists() and "GET /two" in log.read_text(), 10, "access_log")
        lines = log.read_text().splitlines()
        assert [l for l in lines if '"GET /one HTTP/1.1" 200' in l]
        assert "GANTRY0203" in (ex.server_root / "error_log").read_text()
        ex.interrupt()


def test_no_access_log_by_default(app_dir):
    with start(write_app(app_dir)) as ex:
        ex.get_json("/")
        assert "CustomLog" not in ex.conf_text
        assert not (ex.server_root / "access_log").exists()
        ex.interrupt()


def test_changed_script_is_reloaded(app_dir):
    """Without --reload-on-changes the script itself is still reloaded when it changes, as
    mod_wsgi reloads a WSGI script (Gantry: in place, in the same process)."""
    app = write_app(app_dir, version="1")
    with start(app) as ex:
        assert ex.get_json("/")["version"] == "1"
        write_app(app_dir, version="2")
        os.utime(app, (time.time() + 5, time.time() + 5))
        wait_until(lambda: ex.get_json("/")["version"] == "2", 20, "the new script")
        ex.interrupt()


def test_reload_on_changes_restarts_the_process(app_dir):
    (app_dir / "helper.py").write_text('VERSION = "a"\n')
    os.chmod(app_dir / "helper.py", 0o644)
    # The handler's notice is a line on the daemon's stderr (GANTRY0111).
    with start(write_app(app_dir), "--reload-on-changes", "--working-directory", str(app_dir),
               allowed_ids=("GANTRY0111",)) as ex:
        assert '"reload_on_changes": true' in (ex.server_root / "handler.json").read_text()
        first = ex.get_json("/")
        assert first["helper"] == "a"
        time.sleep(1.1)  # mtime granularity: the change must be visible as a new mtime
        (app_dir / "helper.py").write_text('VERSION = "b"\n')
        # An imported module changed: the daemon process restarts and imports it anew.
        info = wait_until(lambda: (lambda i: i if i["helper"] == "b" else None)(
            ex.get_json("/")), 30, "the changed module")
        assert info["pid"] != first["pid"]
        assert "helper.py changed: restarting daemon process" in ex.error_log()
        ex.interrupt()


def test_without_reload_on_changes_modules_are_not_reloaded(app_dir):
    (app_dir / "helper.py").write_text('VERSION = "a"\n')
    os.chmod(app_dir / "helper.py", 0o644)
    with start(write_app(app_dir), "--working-directory", str(app_dir)) as ex:
        first = ex.get_json("/")
        assert first["helper"] == "a"
        (app_dir / "helper.py").write_text('VERSION = "b"\n')
        os.utime(app_dir / "helper.py", (time.time() + 5, time.time() + 5))
        time.sleep(2.5)  # two monitor intervals: nothing must restart
        info = ex.get_json("/")
        assert (info["pid"], info["helper"]) == (first["pid"], "a")
        ex.interrupt()


def test_status_page(app_dir):
    with start(write_app(app_dir), "--status-page") as ex:
        assert ("<Location /gantry-status>\n    SetHandler gantry-status\n"
                "    Require local\n</Location>") in ex.conf_text
        r = ex.request("/gantry-status?json")
        assert b'"sys_path"' not in r.body, "the status URL must never reach the application"
        if r.status == 200:  # Gantry's status handler
            assert "groups" in r.json()
        else:  # a build without the handler: Apache's default handler finds no such file
            assert r.status == 404
        # Without --status-page the URL is the application's like any other.
        ex.interrupt()
    with start(write_app(app_dir)) as ex:
        assert "gantry-status" not in ex.conf_text
        assert ex.get_json("/gantry-status")["path"] == "/gantry-status"
        ex.interrupt()


def test_server_name(app_dir):
    with start(write_app(app_dir), "--server-name", "app.example") as ex:
        assert 'ServerName "app.example"' in ex.conf_text
        r = ex.request("/", host="app.example")
        assert r.status == 200 and r.json()["server_name"] == "app.example"
        assert ex.request("/", host="other.example").status == 403
        ex.interrupt()


def test_application_type_module(app_dir):
    lib = make_dir("modlib")
    try:
        write_app(lib, name="mysite_wsgi.py", version="module")
        with start(Path("mysite_wsgi"), "--application-type", "module",
                   "--python-path", str(lib)) as ex:
            assert ex.get_json("/")["version"] == "module"
            ex.interrupt()
    finally:
        shutil.rmtree(lib)


def test_callable_object(app_dir):
    app = app_dir / "app.wsgi"
    app.write_text(write_app(app_dir).read_text().replace("def application(", "def serve("))
    with start(app, "--callable-object", "serve") as ex:
        assert '"callable_object": "serve"' in (ex.server_root / "handler.json").read_text()
        assert ex.get_json("/")["version"] == "1"
        ex.interrupt()


def test_include_file_and_log_level(app_dir):
    extra = make_dir("include")
    try:
        (extra / "note.txt").write_text("included\n")
        (extra / "extra.conf").write_text(
            f'Alias /note.txt "{extra}/note.txt"\n<Directory "{extra}">\n'
            "    Require all granted\n</Directory>\n")
        for f in extra.iterdir():
            os.chmod(f, 0o644)
        with start(write_app(app_dir), "--include-file", str(extra / "extra.conf"),
                   "--log-level", "warn") as ex:
            assert f'Include "{extra / "extra.conf"}"' in ex.conf_text
            assert "LogLevel warn" in ex.conf_text
            assert ex.request("/note.txt").text == "included\n"
            ex.get_json("/")
            assert "GANTRY0203" not in ex.error_log()  # an info line: below warn
            ex.interrupt()
    finally:
        shutil.rmtree(extra)


def test_setup_server_apachectl(app_dir):
    root = make_dir("setup") / "server"
    port = harness.free_port()
    app = write_app(app_dir)
    p = run_launcher(["setup-server", str(app), *account_args(), "--port", str(port),
                      "--server-root", str(root)])
    assert p.returncode == 0, p.stderr
    ctl = root / "apachectl"
    assert os.access(ctl, os.X_OK) and (root / "httpd.conf").is_file()
    tracked: dict[int, int] = {}
    try:
        assert subprocess.run([str(ctl), "configtest"], capture_output=True).returncode == 0
        assert subprocess.run([str(ctl), "start"], capture_output=True).returncode == 0
        pid_file = root / "run" / "httpd.pid"
        pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 30,
                             "httpd.pid"))
        tracked[pid] = harness._proc_start_time(pid)
        wait_until(lambda: _answers(port), 30, "the server to answer")
        tracked.update(harness._children_of(pid))
        assert subprocess.run([str(ctl), "stop"], capture_output=True).returncode == 0
        assert not wait_gone(tracked, 30), "apachectl stop left processes"
        problems = harness.log_problems((root / "error_log").read_text(), set())
        assert not problems, problems
    finally:
        kill_pids(alive(tracked))
        shutil.rmtree(root.parent, ignore_errors=True)


def _answers(port: int) -> bool:
    import http.client
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    except OSError:
        return False


# ------------------------------------------------------------------------------------------
# Checks before start-up: each fails fast with the message naming the fix, starting nothing.

def expect_refusal(args: list[str], log_id: str, *fragments: str, env=None) -> str:
    p = run_launcher(["start-server", *args, "--port", str(harness.free_port())], env=env,
                     timeout=60)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"gantry-express: {log_id}: " in p.stderr, p.stderr
    for fragment in fragments:
        assert fragment in p.stderr, (fragment, p.stderr)
    return p.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_root_needs_user(app_dir):
    expect_refusal([str(write_app(app_dir))], "GANTRY0640", "--user www-data")


@pytest.mark.skipif(os.geteuid() != 0, reason="the daemon user must differ from the owner")
def test_unreadable_script(app_dir):
    app = write_app(app_dir)
    os.chmod(app, 0o600)
    expect_refusal([str(app), *account_args()], "GANTRY0641",
                   f"{app} is not readable by user www-data", f"chmod o+r {app}")


@pytest.mark.skipif(os.geteuid() != 0, reason="the daemon user must differ from the owner")
def test_script_in_unreachable_directory(app_dir):
    private = app_dir / "private"
    private.mkdir(mode=0o700)
    app = write_app(private)
    expect_refusal([str(app), *account_args()], "GANTRY0641", f"chmod o+x {private}")


def test_import_error(app_dir):
    app = app_dir / "app.wsgi"
    app.write_text("import no_such_module_here\napplication = None\n")
    os.chmod(app, 0o644)
    expect_refusal([str(app), *account_args()], "GANTRY0642",
                   "ModuleNotFoundError: No module named 'no_such_module_here'",
                   "--python-path DIR")


def test_missing_callable(app_dir):
    app = app_dir / "app.wsgi"
    app.write_text("def app(environ, start_response):\n    pass\n")
    os.chmod(app, 0o644)
    expect_refusal([str(app), *account_args()], "GANTRY0642",
                   "no callable named 'application'", "callables found: app",
                   "--callable-object NAME")


def _fake_venv(directory: Path, version: str) -> Path:
    venv = directory / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {version}\n")
    return venv


def test_python_home_of_another_version(app_dir):
    venv = _fake_venv(app_dir, "3.12.1")
    expect_refusal([str(write_app(app_dir)), *account_args(), "--python-home", str(venv)],
                   "GANTRY0643", "Python 3.12 environment but Gantry embeds Python 3.11",
                   f"/usr/bin/python3.11 -m venv {venv}")


def test_virtual_env_of_another_version(app_dir):
    venv = _fake_venv(app_dir, "3.9.18")
    expect_refusal([str(write_app(app_dir)), *account_args()], "GANTRY0643",
                   f"VIRTUAL_ENV={venv} is a Python 3.9 environment",
                   env=launcher_env(VIRTUAL_ENV=str(venv)))


def test_python_home_venv_is_used(app_dir):
    venv = app_dir / "venv"
    subprocess.run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", str(venv)],
                   check=True)
    site = next((venv / "lib").glob("python3.*")) / "site-packages"
    (site / "helper.py").write_text('VERSION = "from-venv"\n')
    os.chmod(site / "helper.py", 0o644)  # the venv itself is world-readable (umask 022)
    with start(write_app(app_dir), "--python-home", str(venv)) as ex:
        info = ex.get_json("/")
        assert info["prefix"] == str(venv) and info["helper"] == "from-venv"
        ex.interrupt()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a directory www-data cannot enter")
def test_socket_directory_unreachable(app_dir):
    private = app_dir / "private"
    private.mkdir(mode=0o700)
    expect_refusal([str(write_app(app_dir)), *account_args(),
                    "--server-root", str(private / "server")], "GANTRY0644",
                   f"no search permission on {private}")


def test_socket_path_too_long(app_dir):
    deep = app_dir / ("x" * 90)
    expect_refusal([str(write_app(app_dir)), *account_args(), "--server-root", str(deep)],
                   "GANTRY0644", "too long for the daemon sockets")


def test_configuration_apache_refuses(app_dir):
    bad = app_dir / "bad.conf"
    bad.write_text("NoSuchDirective on\n")
    expect_refusal([str(write_app(app_dir)), *account_args(), "--include-file", str(bad)],
                   "GANTRY0649", "Apache refused the generated configuration",
                   "Invalid command 'NoSuchDirective'")


def test_port_in_use(app_dir):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run_launcher(["start-server", str(write_app(app_dir)), *account_args(),
                          "--port", str(port)])
        assert p.returncode == 1 and "GANTRY0646" in p.stderr and "--port" in p.stderr


# ------------------------------------------------------------------------------------------
# Installed by `cmake --install`

def test_installed_launcher(app_dir):
    build = harness.gantry_module_path().parent.parent
    if not (build / "cmake_install.cmake").is_file():
        pytest.skip(f"{build} is not a CMake build directory")
    prefix = make_dir("prefix")
    try:
        subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix),
                        "--component", "express"], check=True, capture_output=True)
        launcher = prefix / "bin" / "gantry-express"
        text = launcher.read_text()
        assert f'INSTALLED_PACKAGE_DIR = "{prefix}/share/gantry/express"' in text
        m = re.search(r'INSTALLED_MODULES_DIR = "([^"]+)"', text)
        assert m and not m.group(1).startswith("@")
        # The installed copy runs from its own package (no source tree next to it) ...
        env = launcher_env()
        del env["GANTRY_MODULES_DIR"]
        p = run_launcher(["start-server", str(write_app(app_dir)), *account_args()], env=env,
                         launcher=launcher)
        if not (Path(m.group(1)) / "mod_gantry.so").exists():
            # ... and looks for the modules where `cmake --install` puts them.
            assert p.returncode == 1 and f"looked in {m.group(1)})" in p.stderr, p.stderr
        p = run_launcher(["setup-server", str(write_app(app_dir)), *account_args(),
                          "--server-root", str(prefix / "srv")], launcher=launcher)
        assert p.returncode == 0, p.stderr
        assert str(harness.gantry_module_path()) in (prefix / "srv" / "httpd.conf").read_text()
    finally:
        shutil.rmtree(prefix)
