"""Configuration mistakes in WSGITrustedProxyHeaders, WSGITrustedProxies,
WSGIDispatchScript and WSGIHandlerScript are errors at `apache2 -t`, naming the directive."""
import pytest

import harness


@pytest.fixture(scope="module")
def checker():
    a = harness.Apache("", mpm="event", name="configtest")
    yield a
    a.cleanup()


# Refused by mod_wsgi 4.9.4 and Gantry alike.
REFUSED = [
    "WSGITrustedProxies not-an-address",
    "WSGIDispatchScript",
    "WSGIDispatchScript @APPS@/dispatch.py bogus=1",
    "WSGIDispatchScript @APPS@/dispatch.py application-group=",
    "WSGIHandlerScript name-only",
    "WSGIHandlerScript h @APPS@/hello.wsgi bogus=1",
]

# Refused by Gantry, which checks what mod_wsgi 4.9.4 lets through (a header it would
# never trust, a prefix longer than the address, an empty list, a bad On/Off).
REFUSED_BY_GANTRY = [
    ("WSGITrustedProxyHeaders X-Forwarded-Protocol", "GANTRY0003"),
    ("WSGITrustedProxyHeaders", "GANTRY0005"),
    ("WSGITrustedProxies 10.0.0.0/33", "GANTRY0003"),
    ("WSGITrustedProxies", "GANTRY0005"),
    ("WSGIHandlerScript h @APPS@/hello.wsgi pass-authorization=Maybe", "GANTRY0003"),
    ("WSGIHandlerScript h @APPS@/hello.wsgi process-group=%{BOGUS}", "GANTRY0008"),
]

ACCEPTED = [
    "WSGITrustedProxies 10.0.0.1 192.168.0.0/16 2001:db8::/32 ::1\n"
    "WSGITrustedProxyHeaders X-Forwarded-For x-forwarded-proto X-Forwarded-Host\n"
    "<Location /x>\nWSGITrustedProxyHeaders X-Real-IP X-Script-Name\n</Location>",
    "WSGIDispatchScript @APPS@/dispatch.py application-group=%{GLOBAL}",
    "WSGIDaemonProcess g\nWSGIHandlerScript h @APPS@/hello.wsgi process-group=g "
    "application-group=%{GLOBAL} pass-authorization=On\n"
    "<Location /x>\nWSGIHandlerScript h2 @APPS@/hello.wsgi\nSetHandler h2\n</Location>",
]


@pytest.mark.parametrize("snippet", REFUSED)
def test_refused(checker, snippet):
    rc, out = checker.config_test(snippet)
    assert rc != 0, out
    directive = snippet.split()[0]
    if harness.IS_GANTRY:
        assert directive in out, out


@pytest.mark.gantry_only
@pytest.mark.parametrize("snippet,gantry_id", REFUSED_BY_GANTRY)
def test_refused_by_gantry(checker, snippet, gantry_id):
    rc, out = checker.config_test(snippet)
    assert rc != 0, out
    assert gantry_id in out and snippet.split()[0] in out, out


@pytest.mark.parametrize("snippet", ACCEPTED)
def test_accepted(checker, snippet):
    rc, out = checker.config_test(snippet)
    assert rc == 0, out
