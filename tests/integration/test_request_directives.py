"""Per-location request directives: WSGIScriptReloading, WSGIPassAuthorization,
WSGIChunkedRequest and WSGIMapHEADToGET."""
import base64
import os
import time

import pytest

import harness

apache = harness.server("""
WSGIScriptAlias /reload-hook @APPS@/reload_hook.wsgi
WSGIScriptAlias /reload-on @APPS@/reload_on.wsgi
WSGIScriptAlias /reload-off @APPS@/reload_off.wsgi
<Location /reload-on>
  WSGIScriptReloading On
</Location>
<Location /reload-off>
  WSGIScriptReloading Off
</Location>

WSGIScriptAlias /auth-on @APPS@/env.wsgi
WSGIScriptAlias /auth-off @APPS@/env.wsgi
WSGIScriptAlias /auth-default @APPS@/env.wsgi
<Location /auth-on>
  WSGIPassAuthorization On
</Location>
<Location /auth-off>
  WSGIPassAuthorization Off
</Location>

WSGIScriptAlias /chunked-on @APPS@/input.wsgi
WSGIScriptAlias /chunked-off @APPS@/input.wsgi
<Location /chunked-on>
  WSGIChunkedRequest On
</Location>
<Location /chunked-off>
  WSGIChunkedRequest Off
</Location>

WSGIScriptAlias /head-on @APPS@/env.wsgi
WSGIScriptAlias /head-off @APPS@/env.wsgi
WSGIScriptAlias /head-auto @APPS@/env.wsgi
<Location /head-on>
  WSGIMapHEADToGET On
</Location>
<Location /head-off>
  WSGIMapHEADToGET Off
</Location>
<Location /head-auto>
  WSGIMapHEADToGET Auto
</Location>
""", files={
    "apps/reload_on.wsgi": "def application(e, s):\n    s('200 OK', [])\n    return [b'v1']\n",
    "apps/reload_off.wsgi": "def application(e, s):\n    s('200 OK', [])\n    return [b'v1']\n",
})


def rewrite(path, body):
    """New content and a clearly newer mtime (mtime granularity must not hide the change)."""
    path.write_text(f"def application(e, s):\n    s('200 OK', [])\n    return [{body!r}]\n")
    future = time.time() + 10
    os.utime(path, (future, future))


# -- WSGIScriptReloading ------------------------------------------------------------------

def test_script_reloading_on_picks_up_change(apache):
    conn = apache.connection()
    try:
        assert apache.get("/reload-on", conn=conn).body == b"v1"
        rewrite(apache.apps / "reload_on.wsgi", b"v2")
        assert apache.get("/reload-on", conn=conn).body == b"v2"
    finally:
        conn.close()
        rewrite(apache.apps / "reload_on.wsgi", b"v1")


@pytest.mark.embedded_only  # needs one process to have loaded v1 (daemon: 2 processes)
def test_script_reloading_off_keeps_loaded_code(apache):
    conn = apache.connection()
    try:
        assert apache.get("/reload-off", conn=conn).body == b"v1"
        rewrite(apache.apps / "reload_off.wsgi", b"v2")
        # Same connection, same process: the module already loaded stays in use.
        assert apache.get("/reload-off", conn=conn).body == b"v1"
    finally:
        conn.close()


# mod_wsgi's other reload rules (WSGIScriptReloading On, the default): reload_required()
# of the script module, and a module that lost its __mtime__.

def hook_get(apache, query=""):
    r = apache.get("/reload-hook" + (f"?{query}" if query else ""))
    assert r.status == 200, r.text
    return r.json()


def set_token(apache, token):
    path = apache.apps / "reload_hook.token"
    path.write_text(token + "\n")
    return path


def test_reload_required_true_reloads_once(apache):
    script = str(apache.apps / "reload_hook.wsgi")
    token = f"t-{time.monotonic_ns()}"
    hook_get(apache)
    set_token(apache, token)
    first_loads = {}  # pid -> loads when it first answered with the new token
    for _ in range(12):
        j = hook_get(apache)
        assert j["token"] == token, j  # every process reloads at its next request
        if j["pid"] in first_loads:
            # Asked again (with the script path), said no: the module is kept.
            assert (j["loads"], j["asked"]) == (first_loads[j["pid"]], script), j
        else:
            first_loads[j["pid"]] = j["loads"]
            assert j["asked"] is None, j  # a fresh module: not asked yet


@pytest.mark.log_ids(*harness.ids("reload_check_failed"))
def test_reload_required_exception_is_logged_and_keeps_the_module(apache):
    offset = apache.log_size()
    set_token(apache, "raise")
    try:
        seen = {}  # pid -> (token, loads) of its last answer
        repeats = 0
        for _ in range(30):
            j = hook_get(apache)
            state = (j["token"], j["loads"])
            if j["pid"] in seen:
                assert state == seen[j["pid"]], j  # asked, raised: not reloaded
                repeats += 1
                if repeats == 3:
                    break
            seen[j["pid"]] = state
        assert repeats, "no process answered twice"
        apache.wait_for_log("gantry-test: reload check failed", since=offset)
        apache.wait_for_log("Traceback", since=offset)
    finally:
        set_token(apache, f"t-{time.monotonic_ns()}")


def test_module_without_mtime_is_reloaded(apache, mode):
    dropped = hook_get(apache, "drop-mtime")
    assert dropped["mtime_type"] == "int"  # microseconds, as mod_wsgi's apr_time_t
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the same process answers again
        j = hook_get(apache)
        if j["pid"] == dropped["pid"]:
            assert j["loads"] == dropped["loads"] + 1, j
            assert j["mtime_type"] == "int", j
            return
        if mode == "daemon" and not os.path.exists(f"/proc/{dropped['pid']}"):
            # mod_wsgi's daemon mode restarts the process instead of reloading in place.
            assert not harness.IS_GANTRY, "Gantry reloads the module in place"
            return
    raise AssertionError(f"process {dropped['pid']} did not answer again")


# -- WSGIPassAuthorization ----------------------------------------------------------------

AUTH = {"Authorization": "Basic " + base64.b64encode(b"user:secret").decode()}


def test_pass_authorization_on(apache):
    env = apache.get("/auth-on", headers=AUTH).json()
    assert env["HTTP_AUTHORIZATION"] == AUTH["Authorization"]


def test_pass_authorization_off(apache):
    env = apache.get("/auth-off", headers=AUTH).json()
    assert "HTTP_AUTHORIZATION" not in env


def test_pass_authorization_default_is_off(apache):
    env = apache.get("/auth-default", headers=AUTH).json()
    assert "HTTP_AUTHORIZATION" not in env


# -- WSGIChunkedRequest -------------------------------------------------------------------

def chunked_post(apache, path, *pieces):
    req = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
           "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n").encode()
    return apache.raw(req + harness.chunked(*pieces))


def test_chunked_request_on_echoes_body(apache):
    pieces = [b"first piece;", b"x" * 70000, b";last"]
    r = chunked_post(apache, "/chunked-on?mode=echo", *pieces)
    assert r.status == 200
    assert r.body == b"".join(pieces)


def test_chunked_request_on_sha(apache):
    pieces = [os.urandom(1000) for _ in range(50)]
    r = chunked_post(apache, "/chunked-on?mode=sha", *pieces)
    assert r.status == 200
    import hashlib
    import json
    j = json.loads(r.body)
    assert j["length"] == 50000
    assert j["sha256"] == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert j["CONTENT_LENGTH"] in (None, "")


@pytest.mark.log_ids(*harness.ids("chunked_refused"))
def test_chunked_request_off_is_refused(apache):
    r = chunked_post(apache, "/chunked-off?mode=echo", b"some body")
    assert r.status == 411
    assert b"some body" not in r.body


# -- WSGIMapHEADToGET ---------------------------------------------------------------------

def test_map_head_to_get_on(apache):
    r = apache.request("HEAD", "/head-on")
    assert r.status == 200
    assert r.header("X-Request-Method") == "GET"
    assert r.body == b""


def test_map_head_to_get_off(apache):
    r = apache.request("HEAD", "/head-off")
    assert r.status == 200
    assert r.header("X-Request-Method") == "HEAD"
    assert r.body == b""


def test_map_head_to_get_auto_without_filters(apache):
    # Auto maps only when an output filter might need the full body; none here.
    r = apache.request("HEAD", "/head-auto")
    assert r.status == 200
    assert r.header("X-Request-Method") == "HEAD"


def test_head_response_has_no_body_on_keepalive(apache):
    conn = apache.connection()
    try:
        r = apache.request("HEAD", "/head-on", conn=conn)
        assert r.body == b""
        r2 = apache.get("/head-off", conn=conn)
        assert r2.status == 200 and r2.json()["REQUEST_METHOD"] == "GET"
    finally:
        conn.close()
