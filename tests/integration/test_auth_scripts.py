"""WSGIAuthUserScript (AuthBasicProvider / AuthDigestProvider wsgi), WSGIAuthGroupScript
(Require wsgi-group) and WSGIAccessScript, configured as mod_wsgi's documentation shows them.
Statuses and what reaches the application are compared with mod_wsgi 4.9.4
(GANTRY_TEST_MODULE=mod_wsgi); Gantry's log lines carry its own ids."""
import base64
import json
import urllib.error
import urllib.request

import pytest

import harness

AUTH_MODULES = ["auth_basic", "auth_digest", "authn_core", "authz_user"]

BASIC = """
    AuthType Basic
    AuthName "Gantry test"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/user.wsgi"""

CONFIG = f"""
WSGIScriptAlias /basic @APPS@/env.wsgi
<Location /basic>{BASIC}
    Require valid-user
</Location>
WSGIScriptAlias /group @APPS@/env.wsgi
<Location /group>{BASIC}
    WSGIAuthGroupScript @APPS@/auth/group.wsgi
    Require wsgi-group admins
</Location>
WSGIScriptAlias /digest @APPS@/env.wsgi
<Location /digest>
    AuthType Digest
    AuthName "gantry-digest"
    AuthDigestDomain /digest
    AuthDigestProvider wsgi
    WSGIAuthUserScript @APPS@/auth/user.wsgi
    Require valid-user
</Location>
WSGIScriptAlias /named @APPS@/env.wsgi
<Location /named>
    AuthType Basic
    AuthName "Gantry test"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/user.wsgi application-group=auth-checks
    Require valid-user
</Location>
WSGIScriptAlias /access @APPS@/env.wsgi
<Location /access>
    WSGIAccessScript @APPS@/auth/access.wsgi
</Location>
"""

apache = harness.server(CONFIG, extra_modules=AUTH_MODULES)

# The auth scripts' exceptions and refusals (Gantry ids; mod_wsgi logs its own wording).
SCRIPT_FAILED = harness.ids("auth_script_failed")
BAD_VALUE = harness.ids("auth_bad_value")
DENIED = harness.ids("access_denied")
NOT_IN_GROUPS = harness.ids("group_denied")


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def assert_traceback_logged(apache, offset, message, script):
    """The script's exception reached the error log with its traceback and its path."""
    log = apache.wait_for_log(message, since=offset)
    assert script in log, log
    assert "Traceback (most recent call last)" in log, log
    if harness.IS_GANTRY:
        assert "GANTRY0402" in log, log


def state(apache, name):
    return json.loads((apache.state / f"{name}.json").read_text())


# ---- Basic ----------------------------------------------------------------------------


def test_basic_right_password(apache):
    r = apache.get("/basic", headers=basic("alice", "secret"))
    assert r.status == 200, r.text
    env = r.json()
    assert env["REMOTE_USER"] == "alice"
    assert env["AUTH_TYPE"] == "Basic"


def test_basic_no_credentials(apache):
    r = apache.get("/basic")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == 'Basic realm="Gantry test"'


def test_basic_wrong_password(apache):
    offset = apache.log_size()
    r = apache.get("/basic", headers=basic("alice", "wrong"))
    assert r.status == 401
    # Apache's own line (mod_auth_basic): the provider said "denied".
    apache.wait_for_log(r"AH01617: user alice: authentication failure", since=offset)


def test_basic_unknown_user(apache):
    offset = apache.log_size()
    r = apache.get("/basic", headers=basic("mallory", "secret"))
    assert r.status == 401
    # The provider said "no such user" (None), not "wrong password".
    apache.wait_for_log(r"AH01618: user mallory not found", since=offset)


def test_basic_script_renames_user(apache):
    # check_password may return the user name the request goes on with.
    r = apache.get("/basic", headers=basic("renamed", "pw"))
    assert r.status == 200, r.text
    assert r.json()["REMOTE_USER"] == "renamed-by-script"


@pytest.mark.log_ids(*SCRIPT_FAILED)
def test_basic_script_exception(apache):
    offset = apache.log_size()
    r = apache.get("/basic", headers=basic("crash", "x"))
    assert r.status == 500
    assert_traceback_logged(apache, offset, "check_password failed on purpose", "auth/user.wsgi")


def test_basic_environ(apache):
    r = apache.get("/basic/x?q=1", headers={**basic("probe", "x"), "X-Probe": "yes"})
    assert r.status == 200, r.text
    seen = state(apache, "basic_environ")
    assert seen["REQUEST_URI"] == "/basic/x?q=1"
    assert seen["HTTP_X_PROBE"] == "str"
    assert seen["REQUEST_METHOD"] == "str"
    assert seen["mod_wsgi.process_group"] == ""
    # Without application-group=, the main interpreter (%{GLOBAL}), as mod_wsgi documents.
    assert seen["mod_wsgi.application_group"] == ""
    # A subset of the request's environ: no request body, and never the credentials.
    assert "wsgi.input" not in seen
    assert "HTTP_AUTHORIZATION" not in seen
    assert seen["wsgi.errors"] != "NoneType"


def test_application_group_option(apache):
    r = apache.get("/named", headers=basic("probe", "x"))
    assert r.status == 200, r.text
    assert state(apache, "basic_environ")["mod_wsgi.application_group"] == "auth-checks"


# ---- Require wsgi-group ---------------------------------------------------------------


def test_group_allowed(apache):
    r = apache.get("/group", headers=basic("alice", "secret"))
    assert r.status == 200, r.text
    assert r.json()["REMOTE_USER"] == "alice"
    assert state(apache, "group_environ")["application_group"] == ""


def test_group_allowed_bytes_name(apache):
    # groups_for_user may return bytes; the renamed user is in b"admins".
    r = apache.get("/group", headers=basic("renamed", "pw"))
    assert r.status == 200, r.text


@pytest.mark.log_ids(*NOT_IN_GROUPS)
def test_group_denied(apache):
    offset = apache.log_size()
    r = apache.get("/group", headers=basic("bob", "builder"))
    assert r.status == 401
    apache.wait_for_log(r"bob.*/group", since=offset)


@pytest.mark.log_ids(*SCRIPT_FAILED)
def test_group_script_exception(apache):
    offset = apache.log_size()
    r = apache.get("/group", headers=basic("groupcrash", "pw"))
    assert r.status == 401
    assert_traceback_logged(apache, offset, "groups_for_user failed on purpose", "auth/group.wsgi")


# ---- Digest ---------------------------------------------------------------------------


def digest_get(apache, user, password):
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, apache.url("/digest"), user, password)
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(manager))
    try:
        with opener.open(apache.url("/digest"), timeout=harness.REQUEST_TIMEOUT) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, None


@pytest.mark.parametrize("user,password", [("alice", "secret"), ("bob", "builder")],
                         ids=["str-hash", "bytes-hash"])
def test_digest_right_password(apache, user, password):
    status, env = digest_get(apache, user, password)
    assert status == 200
    assert env["REMOTE_USER"] == user
    assert env["AUTH_TYPE"] == "Digest"


def test_digest_wrong_password(apache):
    status, _ = digest_get(apache, "alice", "wrong")
    assert status == 401


def test_digest_unknown_user(apache):
    offset = apache.log_size()
    status, _ = digest_get(apache, "mallory", "x")
    assert status == 401
    apache.wait_for_log(r"AH01790: user `mallory' in realm `gantry-digest' not found", since=offset)


@pytest.mark.log_ids(*SCRIPT_FAILED)
def test_digest_script_exception(apache):
    offset = apache.log_size()
    status, _ = digest_get(apache, "crash", "x")
    assert status == 500
    assert_traceback_logged(apache, offset, "get_realm_hash failed on purpose", "auth/user.wsgi")


# ---- WSGIAccessScript -----------------------------------------------------------------


def test_access_allowed(apache):
    r = apache.get("/access/ok")
    assert r.status == 200, r.text
    seen = state(apache, "access_environ")
    assert seen["host"] == "127.0.0.1"
    assert seen["uri"] == "/access/ok"
    assert "wsgi.input" not in seen["keys"]
    assert "REMOTE_ADDR" in seen["keys"]


@pytest.mark.log_ids(*DENIED)
def test_access_denied(apache):
    offset = apache.log_size()
    r = apache.get("/access/deny")
    assert r.status == 403
    log = apache.wait_for_log(r"[Cc]lient denied by server configuration", since=offset)
    if harness.IS_GANTRY:
        assert "GANTRY0403" in log, log


def test_access_no_opinion(apache):
    # None: the access script has no opinion; Apache's other access rules decide.
    r = apache.get("/access/none")
    assert r.status == 200, r.text


@pytest.mark.log_ids(*SCRIPT_FAILED, *DENIED)
def test_access_script_exception(apache):
    offset = apache.log_size()
    r = apache.get("/access/crash")
    assert r.status == 403
    assert_traceback_logged(apache, offset, "allow_access failed on purpose", "auth/access.wsgi")


@pytest.mark.log_ids(*BAD_VALUE, *DENIED)
def test_access_bad_return_value(apache):
    offset = apache.log_size()
    r = apache.get("/access/bad")
    assert r.status == 403
    apache.wait_for_log(r"auth/access.wsgi", since=offset)
