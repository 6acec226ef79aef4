"""The module answers to both names mod_wsgi configs test for: `<IfModule mod_wsgi.c>` (the
source-file name) and `<IfModule wsgi_module>` (the module symbol). Existing configs wrap
everything in one of the two, so a drop-in must enter both."""
import harness

apache = harness.server("""
<IfModule mod_wsgi.c>
  Header always set X-IfModule-Source "entered"
  Alias /via-source-name @APPS@/lib/gantry_testlib.py
</IfModule>
<IfModule wsgi_module>
  Header always set X-IfModule-Symbol "entered"
  WSGIScriptAlias /app @APPS@/hello.wsgi
</IfModule>
<IfModule !mod_wsgi.c>
  Header always set X-IfModule-Negated "wrongly entered"
</IfModule>
<IfModule !wsgi_module>
  Header always set X-IfModule-Negated-Symbol "wrongly entered"
</IfModule>
""")


def test_ifmodule_source_name_entered(apache):
    r = apache.get("/app")
    assert r.status == 200
    assert r.header("X-IfModule-Source") == "entered"
    assert r.header("X-IfModule-Negated") is None


def test_ifmodule_symbol_entered(apache):
    r = apache.get("/app")
    assert r.status == 200
    assert r.body == b"Hello from WSGI\n"
    assert r.header("X-IfModule-Symbol") == "entered"
    assert r.header("X-IfModule-Negated-Symbol") is None


def test_alias_inside_ifmodule_applies(apache):
    r = apache.get("/via-source-name")
    assert r.status == 200
    assert b"gantry_testlib from WSGIPythonPath" in r.body
