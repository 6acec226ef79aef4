"""WSGIHandlerScript NAME FILE [options]: a named Apache handler (SetHandler / AddHandler)
served by a WSGI script's handle_request(), for files Apache maps to it (SCRIPT_FILENAME is
the matched file, which need not exist), embedded or in a daemon group."""
import pytest

import harness

apache = harness.server("""
WSGIDaemonProcess handlers processes=1 threads=2
WSGIHandlerScript resource-handler @APPS@/handler_script.wsgi
WSGIHandlerScript daemon-handler @APPS@/handler_script.wsgi \\
    process-group='handlers' application-group="%{GLOBAL}" pass-authorization=On
Alias /files @ROOT@/files
<Directory @ROOT@/files>
  AddHandler resource-handler .myext
</Directory>
Alias /daemon-files @ROOT@/files
<Location /daemon-files>
  SetHandler daemon-handler
</Location>
Alias /virtual @ROOT@/nowhere
<Location /virtual>
  SetHandler resource-handler
</Location>
Alias /inner @ROOT@/files
<Location /inner>
  WSGIHandlerScript resource-handler @ROOT@/inner_handler.wsgi
  SetHandler resource-handler
</Location>
""", files={
    "files/page.myext": "the file's own content\n",
    "files/plain.txt": "a static file\n",
    "inner_handler.wsgi": "def handle_request(environ, start_response):\n"
                          "    start_response('200 OK', [])\n"
                          "    return [b'inner ' + environ['mod_wsgi.handler_script'].encode()]\n",
})


def test_add_handler_serves_matching_files_embedded(apache):
    r = apache.get("/files/page.myext")
    assert r.status == 200, r.body
    env = r.json()
    assert env["callable"] == "handle_request"
    assert env["SCRIPT_FILENAME"] == str(apache.root / "files" / "page.myext")
    assert env["SCRIPT_NAME"] == "/files/page.myext"
    assert env["file_content"] == "the file's own content\n"
    assert env["handler_script"] == str(apache.apps / "handler_script.wsgi")
    assert env["request_handler"] == "resource-handler"
    assert env["callable_object"] == "handle_request"
    assert env["process_group"] == ""
    assert env["daemon"] is False


def test_other_files_stay_static(apache):
    r = apache.get("/files/plain.txt")
    assert r.status == 200
    assert r.body == b"a static file\n"


def test_set_handler_with_process_group_runs_in_daemon(apache):
    r = apache.get("/daemon-files/page.myext/extra", headers={"Authorization": "Bearer x"})
    assert r.status == 200, r.body
    env = r.json()
    assert env["daemon"] is True
    assert env["process_group"] == "handlers"
    assert env["application_group"] == ""
    assert env["PATH_INFO"] == "/extra"
    assert env["authorization"] == "Bearer x"  # pass-authorization=On
    assert env["file_content"] == "the file's own content\n"


def test_handler_runs_for_a_file_that_does_not_exist(apache):
    env = apache.get("/virtual/anything").json()
    assert env["SCRIPT_FILENAME"].startswith(str(apache.root / "nowhere"))
    assert env["authorization"] is None


def test_nearer_definition_of_a_name_wins(apache):
    r = apache.get("/inner/page.myext")
    assert r.body == b"inner " + str(apache.root / "inner_handler.wsgi").encode()
    assert apache.get("/files/page.myext").json()["callable"] == "handle_request"
