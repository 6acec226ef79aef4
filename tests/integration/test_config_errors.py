"""Bad directive arguments are configuration errors at `apache2 -t` time, pointing at the
line; Gantry's message also names the directive (mod_wsgi's sometimes does not). Accepted
configs stay accepted."""
import re

import pytest

import harness


@pytest.fixture(scope="module")
def checker():
    a = harness.Apache("", mpm="event", name="configtest")
    yield a
    a.cleanup()


# (snippet, directive the error must name) - refused by mod_wsgi and Gantry alike.
REFUSED = [
    ("WSGIMapHEADToGET Maybe", "WSGIMapHEADToGET"),
    ("WSGIScriptAliasMatch ^/(unclosed @APPS@/dir/$1.wsgi", "WSGIScriptAliasMatch"),
    ("WSGIScriptAlias /x", "WSGIScriptAlias"),
    ("WSGIScriptAlias /x @APPS@/hello.wsgi bogus-option=1", "WSGIScriptAlias"),
    ("WSGIPassAuthorization Maybe", "WSGIPassAuthorization"),
    ("WSGIChunkedRequest Perhaps", "WSGIChunkedRequest"),
    ("WSGIScriptReloading Sometimes", "WSGIScriptReloading"),
    ("WSGIRestrictStdin yes", "WSGIRestrictStdin"),
    ("WSGIRestrictStdout 2", "WSGIRestrictStdout"),
    ("WSGIRestrictSignal maybe", "WSGIRestrictSignal"),
    ("WSGICallableObject a b", "WSGICallableObject"),
    ("WSGIApplicationGroup", "WSGIApplicationGroup"),
    ("WSGIPythonHome", "WSGIPythonHome"),
    ("WSGIPythonPath", "WSGIPythonPath"),
    ("WSGIImportScript @APPS@/import_marker.py", "WSGIImportScript"),
    ("WSGIImportScript @APPS@/import_marker.py process-group=%{GLOBAL}", "WSGIImportScript"),
    ("WSGIImportScript @APPS@/import_marker.py process-group=%{GLOBAL} "
     "application-group=%{GLOBAL} extra=1", "WSGIImportScript"),
    ("WSGIImportScript @APPS@/import_marker.py process-group=nosuch "
     "application-group=%{GLOBAL}", "WSGIImportScript"),
    ("<Location /x>\nWSGIPythonOptimize 1\n</Location>", "WSGIPythonOptimize"),
]

# Refused by Gantry, which validates values mod_wsgi 4.9.4 lets through unchecked.
REFUSED_BY_GANTRY = [
    ("WSGIPythonOptimize 7", "WSGIPythonOptimize"),
    ("WSGIPythonOptimize -1", "WSGIPythonOptimize"),
    ("WSGIPythonOptimize abc", "WSGIPythonOptimize"),
]

# Auth/access script directives with a missing path or an unknown option (mod_wsgi
# refuses these too), and - Gantry's process-group= - a group not declared before.
REFUSED += [
    ("<Location /x>\nWSGIAccessScript\n</Location>", "WSGIAccessScript"),
    ("<Location /x>\nWSGIAuthUserScript @APPS@/auth/user.wsgi bogus=1\n</Location>", "WSGIAuthUserScript"),
    ("<Location /x>\nWSGIGroupAuthoritative Maybe\n</Location>", "WSGIGroupAuthoritative"),
]
REFUSED_BY_GANTRY += [
    ("<Location /x>\nWSGIAuthGroupScript @APPS@/auth/group.wsgi process-group=nosuch\n</Location>",
     "WSGIAuthGroupScript"),
]

ACCEPTED = [
    "WSGIScriptAlias /ok @APPS@/hello.wsgi",
    "WSGIScriptAliasMatch ^/m/([a-z]+) @APPS@/dir/$1.wsgi",
    "WSGIPythonOptimize 2\nWSGIPythonPath /tmp:/usr/lib\nWSGIPythonHome /usr",
    "WSGIImportScript @APPS@/import_marker.py process-group=%{GLOBAL} "
    "application-group=%{GLOBAL}",
    "<Location /x>\nWSGIApplicationGroup %{GLOBAL}\nWSGICallableObject app\n"
    "WSGIPassAuthorization On\nWSGIChunkedRequest On\nWSGIMapHEADToGET Auto\n"
    "WSGIScriptReloading Off\n</Location>",
    "<Directory /tmp>\nOptions ExecCGI\nAddHandler wsgi-script .wsgi\n"
    "WSGIApplicationGroup %{RESOURCE}\n</Directory>",
]


def syntax_error_line(out):
    m = re.search(r"Syntax error on line (\d+)", out)
    return int(m.group(1)) if m else None


def expected_line(checker, snippet, directive):
    text = checker.render_config(snippet).splitlines()
    for i, line in enumerate(text, 1):
        if line.strip().startswith(directive):
            return i
    raise AssertionError("directive not in rendered config")


@pytest.mark.parametrize("snippet,directive", REFUSED, ids=[d for _, d in REFUSED])
def test_bad_arguments_refused(checker, snippet, directive):
    rc, out = checker.config_test(snippet)
    assert rc != 0, out
    assert syntax_error_line(out) == expected_line(checker, snippet, directive), out
    if harness.IS_GANTRY:
        assert directive in out, out


@pytest.mark.gantry_only
@pytest.mark.parametrize("snippet,directive", REFUSED_BY_GANTRY,
                         ids=[s.split(" ", 1)[1] for s, _ in REFUSED_BY_GANTRY])
def test_out_of_range_refused(checker, snippet, directive):
    rc, out = checker.config_test(snippet)
    assert rc != 0, out
    assert syntax_error_line(out) == expected_line(checker, snippet, directive), out
    assert directive in out, out


@pytest.mark.parametrize("snippet", ACCEPTED)
def test_good_config_accepted(checker, snippet):
    rc, out = checker.config_test(snippet)
    assert rc == 0, out
    assert "Syntax OK" in out

# ---- quoting (test_quoted_options.py has the working forms) --------------------------

BROKEN = [
    ("WSGIDaemonProcess g display-name='%{GROUP}", "WSGIDaemonProcess", "GANTRY0017",
     "unterminated ' quote in display-name='%{GROUP}; close it with a matching '"),
    ('WSGIDaemonProcess g python-path="/srv/site threads=2', "WSGIDaemonProcess", "GANTRY0017",
     "unterminated \" quote"),
    ('WSGIScriptAlias / @APPS@/hello.wsgi process-group="g', "WSGIScriptAlias", "GANTRY0017",
     "close it with a matching \""),
    ("WSGIImportScript '@APPS@/import_marker.py process-group=%{GLOBAL}", "WSGIImportScript",
     "GANTRY0017", "unterminated ' quote"),
    ('WSGIDaemonProcess g python-path="/srv"/site', "WSGIDaemonProcess", "GANTRY0018",
     "text follows the closing \" quote in python-path=\"/srv\"/site; put the whole value"),
]


@pytest.mark.gantry_only  # mod_wsgi reads an unterminated quote to the end of the line
@pytest.mark.parametrize("snippet,directive,log_id,fix", BROKEN,
                         ids=[f"{d}-{i}" for i, (_, d, _, _) in enumerate(BROKEN)])
def test_broken_quoting_is_a_config_error(checker, snippet, directive, log_id, fix):
    rc, out = checker.config_test(snippet)
    assert rc != 0, out
    assert f"{log_id}: {directive}: " in out, out
    assert fix in out, out


@pytest.mark.gantry_only  # mod_wsgi takes `"python-path` for the option name
def test_a_whole_quoted_option_word_is_accepted(checker):
    rc, out = checker.config_test('WSGIDaemonProcess g "python-path=/srv/my site" '
                                  '"display-name=my app"')
    assert rc == 0, out


def test_quoted_empty_python_path_is_accepted_as_nothing(checker):
    # Templated configs write python-path="{{ extra_path }}" with nothing to add; mod_wsgi
    # accepts it and adds nothing, so does Gantry. Other options still need a value.
    rc, out = checker.config_test('WSGIDaemonProcess g python-path=""')
    assert rc == 0, out


@pytest.mark.gantry_only  # mod_wsgi's message differs
def test_quoted_empty_value_is_refused_for_other_options(checker):
    rc, out = checker.config_test('WSGIDaemonProcess g display-name=""')
    assert rc != 0 and "display-name" in out, out
