"""Option values quoted the way published configurations quote them (issue 10, item 2).

Apache's own word splitter keeps the quotes of `key="value"`; mod_wsgi reads the value after
`=` as a word of its own, so `python-path="/srv/site"`, `display-name='%{GROUP}'` and
`display-name="my app"` lose their quotes. Every directive with name=value options reads them
so here: WSGIDaemonProcess, WSGIScriptAlias(Match), WSGIImportScript (and the script
directives, through the same parser). Broken quoting is a config error naming the directive
and the fix (GANTRY0017, GANTRY0018); mod_wsgi silently reads an unterminated quote to the
end of the line."""
import time

import daemon_procs
import harness

APP = """\
import json
import os
import sys


def application(environ, start_response):
    try:
        import quoted_site_marker  # only on sys.path through python-path="..."
        marker = quoted_site_marker.VALUE
    except ImportError:
        marker = None
    body = json.dumps({
        "pid": os.getpid(),
        "process_group": environ["mod_wsgi.process_group"],
        "application_group": environ["mod_wsgi.application_group"],
        "prefix": sys.prefix,
        "marker": marker,
        "preloaded": getattr(sys, "quoted_preload_pid", None),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""

PRELOAD = """\
import os
import sys

sys.quoted_preload_pid = os.getpid()
with open(os.path.join("@STATE@", "preload.%d" % os.getpid()), "w") as f:
    f.write("loaded")
"""

# python-path holds a directory with a space in its name, so only a correctly unquoted value
# can put it on sys.path. The groups are named and referenced with every quoting style.
CONFIG = """
WSGIDaemonProcess quoted processes=1 threads=2 python-path="@ROOT@/site dir:@ROOT@/other" \\
    display-name='%{GROUP}' python-home='/usr'
WSGIDaemonProcess spaced processes=1 threads=1 display-name="my app"
WSGIDaemonProcess 'g' processes=1 threads=1 display-name=%{GROUP} python-path='@ROOT@/site dir'
WSGIImportScript "@ROOT@/preload.py" process-group="quoted" application-group='%{GLOBAL}'

WSGIScriptAlias /quoted "@ROOT@/quoted.wsgi" process-group='quoted'
WSGIScriptAlias /spaced @ROOT@/quoted.wsgi process-group="spaced" application-group="%{GLOBAL}"
WSGIScriptAliasMatch ^/g(/.*)?$ '@ROOT@/quoted.wsgi' process-group='g' application-group='%{GLOBAL}'
"""

server = harness.server(CONFIG, name="quoted", files={
    "quoted.wsgi": APP,
    "preload.py": PRELOAD,
    "site dir/quoted_site_marker.py": "VALUE = 'from the quoted python-path'\n",
})


def test_quoted_python_path_reaches_sys_path(server):
    e = server.get_json("/quoted")
    assert e["process_group"] == "quoted"
    assert e["marker"] == "from the quoted python-path"


def test_quoted_display_name_group_is_expanded(server):
    e = server.get_json("/quoted")
    assert daemon_procs.cmdline(e["pid"]).startswith("(wsgi:quoted)"), daemon_procs.cmdline(e["pid"])
    assert daemon_procs.group_pids(server, "quoted") == [e["pid"]]


def test_quoted_python_home_is_accepted_and_used(server):
    assert server.get_json("/quoted")["prefix"] == "/usr"


def test_display_name_with_a_space(server):
    e = server.get_json("/spaced")
    assert e["process_group"] == "spaced"
    assert e["marker"] is None  # that group has no python-path
    assert daemon_procs.cmdline(e["pid"]).startswith("my app"), daemon_procs.cmdline(e["pid"])


def test_quoted_process_group_on_script_alias_selects_the_group(server):
    e = server.get_json("/g/x")
    assert e["process_group"] == "g"
    assert e["application_group"] == ""
    assert daemon_procs.group_pids(server, "g") == [e["pid"]]
    assert e["marker"] == "from the quoted python-path"


def test_quoted_import_script_options_preload_the_group(server):
    pid = daemon_procs.wait_group(server, "quoted", 1)[0]
    marker = server.state / f"preload.{pid}"
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "WSGIImportScript did not run in the quoted group"
    e = server.get_json("/spaced")
    assert e["preloaded"] is None  # only the "quoted" group imports preload.py
