"""How requests reach a WSGI script: WSGIScriptAlias (file and directory targets, with and
without trailing slashes), WSGIScriptAliasMatch with $1 substitution, SetHandler/AddHandler
wsgi-script under Options ExecCGI (403 without it), and WSGICallableObject."""
import pytest

import harness

apache = harness.server("""
WSGIScriptAlias /file @APPS@/dir/a.wsgi
WSGIScriptAlias /dirslash/ @APPS@/dir/
WSGIScriptAlias /dirnoslash @APPS@/dir
WSGIScriptAliasMatch ^/match/([^/]+) @APPS@/dir/$1.wsgi
WSGIScriptAlias /callable @APPS@/callable.wsgi
<Location /callable>
  WSGICallableObject custom
</Location>
WSGIScriptAlias /defaultcallable @APPS@/callable.wsgi

Alias /handler/ @ROOT@/handler/
<Directory @ROOT@/handler>
  Options ExecCGI
  AddHandler wsgi-script .wsgi
</Directory>
Alias /sethandler/ @ROOT@/sethandler/
<Directory @ROOT@/sethandler>
  Options ExecCGI
  SetHandler wsgi-script
</Directory>
Alias /noexec/ @ROOT@/noexec/
<Directory @ROOT@/noexec>
  Options -ExecCGI
  AddHandler wsgi-script .wsgi
</Directory>
""", files={
    "handler/hello.wsgi": (harness.APPS_DIR / "hello.wsgi").read_text(),
    "handler/paths.wsgi": (harness.APPS_DIR / "dir" / "a.wsgi").read_text(),
    "handler/readme.txt": "plain file, not a script\n",
    "sethandler/hello": (harness.APPS_DIR / "hello.wsgi").read_text(),
    "noexec/hello.wsgi": (harness.APPS_DIR / "hello.wsgi").read_text(),
})


def paths(apache, url):
    r = apache.get(url)
    assert r.status == 200, (url, r.status, r.text)
    return r.json()


def test_file_target(apache):
    j = paths(apache, "/file")
    assert j["script"] == "a"
    assert j["SCRIPT_NAME"] == "/file"
    assert j["PATH_INFO"] == ""
    assert j["SCRIPT_FILENAME"] == str(apache.apps / "dir" / "a.wsgi")


def test_file_target_with_path_info(apache):
    j = paths(apache, "/file/extra/path")
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/file", "/extra/path")


def test_file_target_trailing_slash(apache):
    j = paths(apache, "/file/")
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/file", "/")


def test_file_target_does_not_match_longer_name(apache):
    # /filefoo is not under the /file mount.
    assert apache.get("/filefoo").status == 404


def test_directory_target_with_slash(apache):
    j = paths(apache, "/dirslash/a.wsgi")
    assert j["script"] == "a"
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/dirslash/a.wsgi", "")
    j = paths(apache, "/dirslash/b.wsgi/more/info")
    assert j["script"] == "b"
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/dirslash/b.wsgi", "/more/info")
    assert j["SCRIPT_FILENAME"] == str(apache.apps / "dir" / "b.wsgi")


def test_directory_target_without_slash(apache):
    j = paths(apache, "/dirnoslash/b.wsgi")
    assert j["script"] == "b"
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/dirnoslash/b.wsgi", "")


@pytest.mark.log_ids(*harness.ids("script_not_found"))
def test_directory_target_missing_file_is_404(apache):
    assert apache.get("/dirslash/nothere.wsgi").status == 404


def test_alias_match_substitutes_group(apache):
    j = paths(apache, "/match/a")
    assert j["script"] == "a"
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/match/a", "")
    j = paths(apache, "/match/b/tail")
    assert j["script"] == "b"
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/match/b", "/tail")
    assert j["SCRIPT_FILENAME"] == str(apache.apps / "dir" / "b.wsgi")


@pytest.mark.log_ids(*harness.ids("script_not_found"))
def test_alias_match_missing_target_is_404(apache):
    assert apache.get("/match/zzz").status == 404


def test_callable_object(apache):
    r = apache.get("/callable")
    assert (r.status, r.body) == (200, b"custom callable")
    r = apache.get("/defaultcallable")
    assert (r.status, r.body) == (200, b"default callable")


def test_addhandler_with_execcgi(apache):
    r = apache.get("/handler/hello.wsgi")
    assert (r.status, r.body) == (200, b"Hello from WSGI\n")
    j = paths(apache, "/handler/paths.wsgi/p/i")
    assert (j["SCRIPT_NAME"], j["PATH_INFO"]) == ("/handler/paths.wsgi", "/p/i")


def test_addhandler_leaves_other_files_alone(apache):
    r = apache.get("/handler/readme.txt")
    assert (r.status, r.body) == (200, b"plain file, not a script\n")


def test_sethandler_with_execcgi(apache):
    r = apache.get("/sethandler/hello")
    assert (r.status, r.body) == (200, b"Hello from WSGI\n")


@pytest.mark.log_ids(*harness.ids("no_execcgi"))
def test_handler_without_execcgi_is_403(apache):
    r = apache.get("/noexec/hello.wsgi")
    assert r.status == 403
    assert b"Hello" not in r.body
