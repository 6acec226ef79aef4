"""WSGIErrorOverride (mod_wsgi's ProxyErrorOverride): in daemon mode, with the directive On,
an application response with an error status (400-599) is replaced by Apache's own error
document - the ErrorDocument configured for that status, else Apache's default page - and
none of the application's headers or body reach the client. Off (the default), and in
embedded mode whatever the setting, the application's error page goes out as it wrote it.
Checked against mod_wsgi 4.9.4, which behaves the same way for every case here."""
import pytest

import harness

CONFIG = """
ErrorDocument 404 /custom404.html
ErrorDocument 500 /custom500.html
WSGIDaemonProcess override processes=1 threads=4
WSGIScriptAlias /on @APPS@/status.wsgi process-group=override
WSGIScriptAlias /off @APPS@/status.wsgi process-group=override
WSGIScriptAlias /embedded @APPS@/status.wsgi
<Location /on>
  WSGIErrorOverride On
</Location>
<Location /embedded>
  WSGIErrorOverride On
</Location>
"""

CUSTOM = {404: "custom 404 from Apache\n", 500: "custom 500 from Apache\n"}


def add_error_documents(apache):
    for status, text in CUSTOM.items():
        apache.add_file(f"htdocs/custom{status}.html", text)


@pytest.fixture(scope="module")
def apache(mpm):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="error-override"),
                         add_error_documents) as a:
        yield a


@pytest.mark.parametrize("path", ["/on/404", "/on/500", "/on/404-stream", "/on/500-stream"])
def test_on_serves_apaches_error_document(apache, path):
    status = int(path.split("/")[2][:3])
    r = apache.get(path)
    assert r.status == status
    assert r.text == CUSTOM[status]
    assert r.header("X-App-Header") is None  # nothing of the application's response


def test_on_without_error_document_serves_apaches_default_page(apache):
    r = apache.get("/on/403")
    assert r.status == 403
    assert "<title>403 Forbidden</title>" in r.text
    assert "application body" not in r.text and r.header("X-App-Header") is None


@pytest.mark.parametrize("path", ["/on/201", "/on/302", "/on/200"])
def test_on_leaves_other_statuses_alone(apache, path):
    r = apache.get(path)
    assert r.status == int(path[-3:])
    assert r.text == f"application body for {path[-3:]}\n"
    assert r.header("X-App-Header") == "from-app"


@pytest.mark.parametrize("path", ["/off/404", "/off/500", "/embedded/404", "/embedded/500"])
def test_off_and_embedded_serve_the_applications_page(apache, path):
    r = apache.get(path)
    assert r.status == int(path[-3:])
    assert r.text == f"application body for {path[-3:]}\n"
    assert r.header("X-App-Header") == "from-app"


def test_keep_alive_survives_an_overridden_response(apache):
    conn = apache.connection()
    try:
        first = apache.get("/on/404-stream", conn=conn)
        second = apache.get("/on/201", conn=conn)
    finally:
        conn.close()
    assert (first.status, first.text) == (404, CUSTOM[404])
    assert (second.status, second.text) == (201, "application body for 201\n")
