"""Gantry beyond mod_wsgi: WSGIAuthUserScript / WSGIAuthGroupScript / WSGIAccessScript with
process-group=NAME run in that daemon group (daemon protocol AUTH_QUERY / AUTH_REPLY), so a
server with WSGIRestrictEmbedded On keeps Apache-level auth with no Python in any Apache
child. mod_wsgi has no such option (its auth scripts always run embedded): Gantry only."""
import pytest

import daemon_procs
import harness
from test_auth_scripts import (AUTH_MODULES, BAD_VALUE, DENIED, NOT_IN_GROUPS, SCRIPT_FAILED,
                               assert_traceback_logged, basic, digest_get, state)

pytestmark = pytest.mark.gantry_only

USER = "WSGIAuthUserScript @APPS@/auth/user.wsgi process-group=authd"

CONFIG = f"""
WSGIRestrictEmbedded On
WSGIDaemonProcess authd display-name=%{{GROUP}} processes=1 threads=2
WSGIDaemonProcess app display-name=%{{GROUP}} processes=1 threads=2
WSGIProcessGroup app
WSGIScriptAlias /basic @APPS@/env.wsgi
<Location /basic>
    AuthType Basic
    AuthName "Gantry test"
    AuthBasicProvider wsgi
    {USER}
    Require valid-user
</Location>
WSGIScriptAlias /group @APPS@/env.wsgi
<Location /group>
    AuthType Basic
    AuthName "Gantry test"
    AuthBasicProvider wsgi
    {USER}
    WSGIAuthGroupScript @APPS@/auth/group.wsgi process-group=authd application-group=groups
    Require wsgi-group admins
</Location>
WSGIScriptAlias /digest @APPS@/env.wsgi
<Location /digest>
    AuthType Digest
    AuthName "gantry-digest"
    AuthDigestDomain /digest
    AuthDigestProvider wsgi
    {USER}
    Require valid-user
</Location>
WSGIScriptAlias /access @APPS@/env.wsgi
<Location /access>
    WSGIAccessScript @APPS@/auth/access.wsgi process-group=authd
</Location>
WSGIScriptAlias /embedded @APPS@/env.wsgi
<Location /embedded>
    WSGIAccessScript @APPS@/auth/access.wsgi
</Location>
"""

apache = harness.server(CONFIG, extra_modules=AUTH_MODULES)


def test_basic_checked_in_the_daemon_group(apache):
    r = apache.get("/basic", headers=basic("alice", "secret"))
    assert r.status == 200, r.text
    assert r.json()["REMOTE_USER"] == "alice"
    assert apache.get("/basic", headers=basic("alice", "wrong")).status == 401
    assert apache.get("/basic", headers=basic("mallory", "x")).status == 401
    r = apache.get("/basic", headers=basic("renamed", "pw"))
    assert r.json()["REMOTE_USER"] == "renamed-by-script"


def test_the_check_ran_in_the_daemon(apache):
    r = apache.get("/basic/x", headers=basic("probe", "x"))
    assert r.status == 200, r.text
    seen = state(apache, "basic_environ")
    assert seen["pid"] in daemon_procs.group_pids(apache, "authd")
    assert seen["mod_wsgi.process_group"] == "authd"
    assert seen["mod_wsgi.application_group"] == ""
    assert "wsgi.input" not in seen and "HTTP_AUTHORIZATION" not in seen


@pytest.mark.log_ids(*SCRIPT_FAILED)
def test_exception_travels_back_with_its_traceback(apache):
    offset = apache.log_size()
    r = apache.get("/basic", headers=basic("crash", "x"))
    assert r.status == 500
    assert_traceback_logged(apache, offset, "check_password failed on purpose", "auth/user.wsgi")


@pytest.mark.log_ids(*NOT_IN_GROUPS)
def test_groups(apache):
    assert apache.get("/group", headers=basic("alice", "secret")).status == 200
    assert state(apache, "group_environ")["application_group"] == "groups"
    assert apache.get("/group", headers=basic("bob", "builder")).status == 401


def test_digest(apache):
    status, env = digest_get(apache, "bob", "builder")
    assert (status, env["REMOTE_USER"]) == (200, "bob")
    assert digest_get(apache, "alice", "wrong")[0] == 401


@pytest.mark.log_ids(*DENIED, *SCRIPT_FAILED, *BAD_VALUE)
def test_access(apache):
    assert apache.get("/access/ok").status == 200
    assert state(apache, "access_environ")["pid"] in daemon_procs.group_pids(apache, "authd")
    assert apache.get("/access/deny").status == 403
    offset = apache.log_size()
    assert apache.get("/access/crash").status == 403
    assert_traceback_logged(apache, offset, "allow_access failed on purpose", "auth/access.wsgi")


@pytest.mark.log_ids("GANTRY0407", *DENIED)
def test_embedded_check_fails_closed_under_restrict_embedded(apache):
    # Without process-group= the script would have to run in the Apache child, which has
    # no Python: the check fails closed (403), and the log says how to fix it.
    offset = apache.log_size()
    assert apache.get("/embedded/ok").status == 403
    apache.wait_for_log(r"GANTRY0407: .*WSGIRestrictEmbedded On.*process-group=", since=offset)


def test_no_apache_child_maps_python(apache):
    for path in ("/basic", "/group"):
        assert apache.get(path, headers=basic("alice", "secret")).status == 200
    assert digest_get(apache, "alice", "secret")[0] == 200
    assert apache.get("/access/ok").status == 200
    daemons = set(daemon_procs.daemon_pids(apache))
    children = [p for p in apache.child_pids() if p not in daemons]
    assert children
    for pid in [apache.pid] + children:
        assert daemon_procs.maps_python(pid) == [], (pid, daemon_procs.cmdline(pid))
    for pid in daemon_procs.group_pids(apache, "authd"):
        assert daemon_procs.maps_python(pid), pid
