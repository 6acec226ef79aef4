"""WSGIDispatchScript: a Python script run in the Apache child for each request whose
process_group(), application_group() and callable_object() (each optional, None keeping the
configured value) choose where and what runs - the process group before the request is
handed to a daemon (mod_wsgi's documented example routes by URL to daemon groups)."""
import re

import pytest

import harness

apache = harness.server("""
WSGIDaemonProcess dispatch-a processes=1 threads=2
WSGIDaemonProcess dispatch-b processes=1 threads=2
WSGIScriptAlias /route @APPS@/dispatch_target.wsgi
WSGIScriptAlias /own-group @APPS@/dispatch_target.wsgi
WSGIScriptAlias /configured-daemon @APPS@/dispatch_target.wsgi
WSGIScriptAlias /restricted @APPS@/dispatch_target.wsgi
WSGIScriptAlias /missing @APPS@/dispatch_target.wsgi
<Location /route>
  WSGIDispatchScript @APPS@/dispatch.py
</Location>
<Location /own-group>
  WSGIDispatchScript @APPS@/dispatch.py application-group="dispatchers"
</Location>
<Location /configured-daemon>
  WSGIProcessGroup dispatch-b
  WSGIApplicationGroup configured
  WSGIDispatchScript @APPS@/dispatch.py
</Location>
<Location /missing>
  WSGIDispatchScript @APPS@/no-such-dispatch.py
</Location>
<Location /restricted>
  WSGIRestrictProcess dispatch-a
  WSGIProcessGroup dispatch-a
  WSGIDispatchScript @APPS@/dispatch.py
</Location>
""")


def reply(apache, path):
    r = apache.get(path)
    assert r.status == 200, (r.status, r.body)
    return r.json()


def test_functions_returning_none_keep_the_configuration(apache):
    env = reply(apache, "/route")
    assert env["callable"] == "application"
    assert env["process_group"] == ""
    assert env["daemon"] is False
    env = reply(apache, "/configured-daemon")
    assert env["process_group"] == "dispatch-b"
    assert env["application_group"] == "configured"
    assert env["daemon"] is True


def test_process_group_routes_to_a_daemon(apache):
    env = reply(apache, "/route?pg=dispatch-a")
    assert env["process_group"] == "dispatch-a"
    assert env["daemon"] is True
    env = reply(apache, "/route?pg=dispatch-b&bytes=1")
    assert env["process_group"] == "dispatch-b"
    assert env["daemon"] is True


def test_process_group_global_brings_it_back_embedded(apache):
    env = reply(apache, "/configured-daemon?pg=GLOBAL")
    assert env["process_group"] == ""
    assert env["daemon"] is False


def test_application_group_and_callable(apache):
    env = reply(apache, "/route?ag=chosen&co=other")
    assert env["application_group"] == "chosen"
    assert env["callable"] == "other"
    assert env["callable_object"] == "other"
    env = reply(apache, "/configured-daemon?ag=GLOBAL&co=other&bytes=1")
    assert env["application_group"] == ""
    assert env["callable"] == "other"
    assert env["daemon"] is True


@pytest.mark.log_ids("GANTRY0424")
def test_dispatch_script_environ_and_interpreter(apache):
    """The script sees the request's environ, with mod_wsgi.process_group "" and
    mod_wsgi.application_group naming the interpreter it runs in (the main one unless its
    application-group= says otherwise), and no mod_wsgi.callable_object."""
    since = apache.log_size()
    reply(apache, "/route?report=1")
    line = apache.wait_for_log(r"dispatch saw .*uri='/route\?report=1'", since=since)
    assert "process_group='' application_group='' callable='<absent>'" in line
    since = apache.log_size()
    reply(apache, "/own-group?report=1")
    line = apache.wait_for_log(r"dispatch saw .*uri='/own-group\?report=1'", since=since)
    assert "application_group='dispatchers'" in line


@pytest.mark.log_ids("GANTRY0422")
def test_exception_in_dispatch_script_is_500(apache):
    since = apache.log_size()
    assert apache.get("/route?raise=1").status == 500
    text = apache.wait_for_log(r"dispatch script failed on purpose", since=since)
    assert "dispatch.py" in apache.log_text(since)
    assert text


@pytest.mark.log_ids("GANTRY0422")
def test_non_string_answer_is_500(apache):
    since = apache.log_size()
    assert apache.get("/route?badtype=1").status == 500
    apache.wait_for_log(r"TypeError", since=since)


@pytest.mark.log_ids("GANTRY0077")
def test_unknown_group_chosen_is_500(apache):
    assert apache.get("/route?pg=nosuchgroup").status == 500


@pytest.mark.log_ids("GANTRY0080")
def test_restrict_process_applies_to_the_dispatched_group(apache):
    assert reply(apache, "/restricted")["process_group"] == "dispatch-a"
    assert apache.get("/restricted?pg=dispatch-b").status == 500


@pytest.mark.gantry_only  # mod_wsgi 4.9.4 logs the error and runs the configured groups
@pytest.mark.log_ids("GANTRY0124", "GANTRY0427")
def test_missing_dispatch_script_is_500(apache):
    since = apache.log_size()
    assert apache.get("/missing").status == 500
    apache.wait_for_log(r"GANTRY0427: WSGI dispatch script '.*no-such-dispatch.py' could not be loaded",
                        since=since)


RESTRICTED = """
WSGIRestrictEmbedded On
WSGIDaemonProcess dispatch-a processes=1 threads=2
WSGIDaemonProcess dispatch-b processes=1 threads=2
WSGIScriptAlias /r @APPS@/dispatch_target.wsgi process-group=dispatch-a
WSGIDispatchScript @APPS@/dispatch.py
"""


@pytest.mark.log_ids("GANTRY0044")
def test_dispatch_script_runs_with_restrict_embedded(mpm):
    """mod_wsgi 4.9.4 starts Python in the Apache children for a dispatch script even with
    WSGIRestrictEmbedded On (the script must run before the request is handed to a daemon);
    Gantry does the same, says so at start-up (GANTRY0421), and still refuses to run an
    application embedded."""
    with harness.running(harness.Apache(RESTRICTED, mpm=mpm)) as a:
        env = a.get("/r?pg=dispatch-b").json()
        assert env["process_group"] == "dispatch-b"
        assert env["daemon"] is True
        assert a.get("/r").json()["process_group"] == "dispatch-a"
        assert a.get("/r?pg=GLOBAL").status == 500
        if harness.IS_GANTRY:
            assert "GANTRY0421" in a.log_text()
