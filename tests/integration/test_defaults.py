"""Defaults: what a configuration that does not mention a directive or a WSGIDaemonProcess
option gets, checked against mod_wsgi 4.9.4 (issue 10, item 11). docs/defaults.md is the
table (directive or option, mod_wsgi default, Gantry default, the test that proves it);
test_defaults_doc_* below keep it complete and its references real."""
import os
import pwd
import re
import time

import pytest

import daemon_procs
import harness

# Reports the facts each default shows up in; rewritten by the reloading test.
APP = """\
import json
import os
import sys

VERSION = "v1"


def application(environ, start_response):
    umask = os.umask(0)
    os.umask(umask)
    body = json.dumps({
        "version": VERSION,
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "umask": umask,
        "lang": os.environ.get("LANG"),
        "lc_all": os.environ.get("LC_ALL"),
        "prefix": sys.prefix,
        "optimize": sys.flags.optimize,
        "multiprocess": environ["wsgi.multiprocess"],
        "tasks": len(os.listdir("/proc/self/task")),
        "process_group": environ["mod_wsgi.process_group"],
        "application_group": environ["mod_wsgi.application_group"],
        "callable_object": environ["mod_wsgi.callable_object"],
        "script_reloading": environ["mod_wsgi.script_reloading"],
        "enable_sendfile": environ["mod_wsgi.enable_sendfile"],
        "ignore_activity": environ["mod_wsgi.ignore_activity"],
        "hash_randomization": sys.flags.hash_randomization,
        "warnoptions": sys.warnoptions,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "authorization": environ.get("HTTP_AUTHORIZATION"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("X-Method", environ["REQUEST_METHOD"])])
    return [body]
"""

# Nothing but the mapping: every other directive keeps its default.
server = harness.server("WSGIScriptAlias /d @ROOT@/defaults.wsgi\n", name="defaults",
                        files={"defaults.wsgi": APP})

# Daemon groups with no options, and two with only user=: Apache's own User (changes
# nothing) and another account (whose home becomes the working directory).
groups = harness.server("""
WSGIDaemonProcess bare
WSGIDaemonProcess apacheuser user=www-data
WSGIDaemonProcess otheruser user=daemon
WSGIScriptAlias /bare @ROOT@/defaults.wsgi process-group=bare
WSGIScriptAlias /apacheuser @ROOT@/defaults.wsgi process-group=apacheuser
WSGIScriptAlias /otheruser @ROOT@/defaults.wsgi process-group=otheruser
""", name="defaultgroups", files={"defaults.wsgi": APP})


# ---- directives ------------------------------------------------------------------------

def test_application_group_default_is_resource(server):
    e = server.get_json("/d")
    assert e["application_group"] == f"127.0.0.1:{server.port}|/d"


@pytest.mark.embedded_only  # the daemon run adds a WSGIProcessGroup of its own
def test_process_group_default_is_global_and_embedded_is_allowed(server):
    # WSGIProcessGroup %{GLOBAL} and WSGIRestrictEmbedded Off: served in Apache's child.
    e = server.get_json("/d")
    assert e["process_group"] == ""
    assert e["pid"] in server.child_pids() and e["pid"] != server.pid


def test_callable_object_default_is_application(server):
    assert server.get_json("/d")["callable_object"] == "application"


def test_sendfile_default_is_off(server):
    assert server.get_json("/d")["enable_sendfile"] == "0"


def test_ignore_activity_default_is_off(server):
    assert server.get_json("/d")["ignore_activity"] == "0"


def test_python_flags_default(server):
    # WSGIPythonHashSeed, WSGIPythonWarnings, WSGIDontWriteBytecode unset.
    e = server.get_json("/d")
    assert e["hash_randomization"] == 1 and e["warnoptions"] == []
    if harness.IS_GANTRY:  # mod_wsgi's Python reads PYTHONDONTWRITEBYTECODE from Apache's environment
        assert e["dont_write_bytecode"] is False


def test_pass_authorization_default_is_off(server):
    e = server.get_json("/d", headers={"Authorization": "Basic dTpw"})
    assert e["authorization"] is None


def test_map_head_to_get_default_is_auto(server):
    # Auto maps HEAD to GET only when an output filter might need the body; with none here
    # the application sees HEAD (On would make it GET: test_request_directives.py).
    r = server.request("HEAD", "/d")
    assert r.status == 200 and r.header("X-Method") == "HEAD" and r.body == b""


@pytest.mark.log_ids(*harness.ids("chunked_refused"))
def test_chunked_request_default_is_off(server):
    r = server.raw(b"POST /d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" + harness.chunked(b"abc"))
    assert r.status == 411


def test_python_optimize_default_is_0_and_prefix_is_the_build_python(server):
    e = server.get_json("/d")
    assert e["optimize"] == 0
    assert e["prefix"] == "/usr"  # WSGIPythonHome unset: the Python Gantry was built with


def test_script_reloading_default_is_on(server):
    assert server.get_json("/d")["script_reloading"] == "1"
    script = server.root / "defaults.wsgi"
    original = script.read_text()
    try:
        script.write_text(original.replace('VERSION = "v1"', 'VERSION = "v2"'))
        future = time.time() + 10  # a clearly newer mtime
        os.utime(script, (future, future))
        deadline = time.monotonic() + 10
        while server.get_json("/d")["version"] != "v2" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.get_json("/d")["version"] == "v2"
    finally:
        script.write_text(original)
        os.utime(script, (future + 10, future + 10))


# ---- WSGIDaemonProcess options -----------------------------------------------------------

def apache_parent_status(apache, key):
    return daemon_procs.status(apache.pid)[key]


def test_bare_group_runs_one_process_of_15_threads(groups):
    pids = {groups.get_json("/bare")["pid"] for _ in range(6)}
    assert len(pids) == 1  # processes=1
    e = groups.get_json("/bare")
    assert e["process_group"] == "bare"
    assert e["multiprocess"] is False  # processes= not given
    # threads=15: 15 request threads plus a few of the process's own.
    assert 15 <= e["tasks"] <= 24, e["tasks"]


def test_bare_group_keeps_apaches_name_umask_and_locale(groups):
    e = groups.get_json("/bare")
    # display-name unset: argv[0] unchanged.
    assert daemon_procs.cmdline(e["pid"]).split()[0] == daemon_procs.cmdline(groups.pid).split()[0]
    # umask, lang and locale unset: inherited from Apache.
    assert e["umask"] == int(apache_parent_status(groups, "Umask"), 8)
    environ = dict(item.split("=", 1) for item in
                   open(f"/proc/{groups.pid}/environ").read().split("\0") if "=" in item)
    assert e["lang"] == environ.get("LANG") and e["lc_all"] == environ.get("LC_ALL")
    assert e["prefix"] == "/usr"  # python-home unset: WSGIPythonHome's (unset) Python


def test_home_default_is_apaches_directory_unless_user_is_another_account(groups):
    # mod_wsgi 4.9.4: a daemon starts in its user's home only when user= names an account
    # other than Apache's User; otherwise in the directory Apache was started in.
    apache_cwd = os.readlink(f"/proc/{groups.pid}/cwd")
    assert groups.get_json("/bare")["cwd"] == apache_cwd
    assert groups.get_json("/apacheuser")["cwd"] == apache_cwd
    assert groups.get_json("/otheruser")["cwd"] == pwd.getpwnam("daemon").pw_dir


@pytest.mark.gantry_only  # mod_wsgi uses Apache's compiled-in /var/run/apache2 (docs/defaults.md)
def test_socket_prefix_default_is_the_runtime_directory(groups):
    groups.get_json("/bare")
    listening = [line.split()[-1] for line in open("/proc/net/unix").read().splitlines()[1:]
                 if line.split()[-1].startswith(f"{groups.root}/run/wsgi.")]
    assert listening  # harness: DefaultRuntimeDir ROOT/run


# ---- docs/defaults.md --------------------------------------------------------------------

DOC = harness.REPO_ROOT / "docs" / "defaults.md"


def doc_rows(heading: str) -> dict[str, list[str]]:
    """The table under `heading` in docs/defaults.md: first cell (without `) -> cells."""
    text = DOC.read_text()
    section = text[text.index(heading):]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        if not line.startswith("| ") or line.startswith("|---") or line.startswith("| Directive") \
                or line.startswith("| Option"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_defaults_doc_lists_every_directive():
    source = (harness.REPO_ROOT / "module" / "directives.cpp").read_text()
    directives = set(re.findall(r'^\s*\{"(WSGI\w+)", (?:TAKE1|RAW_ARGS|FLAG|TAKE\d+|ITERATE)',
                                source, re.M))
    rows = doc_rows("## Directives")
    assert directives and set(rows) == directives
    # "accepted, no effect (GANTRY0020)" exactly for the directives the table marks inert.
    inert = set(re.findall(r'^\s*\{"(WSGI\w+)", \w+, Where::\w+, Support::inert', source, re.M))
    assert {name for name, cells in rows.items() if "GANTRY0020" in cells[2]} == inert


def test_defaults_doc_daemon_options_match_the_option_table():
    # Gantry's default column is the option table's default text (core/daemon_options.cpp).
    source = (harness.REPO_ROOT / "core" / "daemon_options.cpp").read_text()
    specs = dict(re.findall(r'\{"([a-z-]+)", K::\w+, [^,]+, [^,]+, "[^"]*", "([^"]*)"', source))
    rows = doc_rows("## WSGIDaemonProcess options")
    assert specs and set(rows) == set(specs)
    for name, default in specs.items():
        assert rows[name][2] == default, (name, rows[name][2], default)


def test_defaults_doc_names_real_tests():
    text = DOC.read_text()
    refs = re.findall(r"`(tests/[\w/]+\.(?:py|cpp))::(\w+)`", text)
    assert refs
    for path, name in set(refs):
        source = (harness.REPO_ROOT / path).read_text()
        pattern = rf"def {name}\(" if path.endswith(".py") else rf"BOOST_AUTO_TEST_CASE\({name}\)"
        assert re.search(pattern, source), f"{path}::{name} does not exist"
