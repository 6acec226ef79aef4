"""docs/directives.md and docs/daemon-options.md say what the code does: their tables are
regenerated from the module (scripts/directive-docs.py, via `apache2 -t -D
DUMP_WSGI_DIRECTIVES`) and must match the committed files. They cover every directive and
WSGIDaemonProcess option of mod_wsgi 4.9.4 and 6.0, and no directive that has no effect
lacks the reason why that is safe. The mod_wsgi 6 directives without an effect in Gantry are
accepted (with mod_wsgi 6's validation), and <WSGIInterpreterOptions> is refused."""
import re
import subprocess
import sys

import pytest

import harness

pytestmark = pytest.mark.gantry_only

DOCS = harness.REPO_ROOT / "docs"

# Every directive of Debian's mod_wsgi 4.9.4 (its command table, as `strings` shows it).
MOD_WSGI_4_9 = """
WSGIAcceptMutex WSGIAccessScript WSGIApplicationGroup WSGIAuthGroupScript WSGIAuthUserScript
WSGICallableObject WSGICaseSensitivity WSGIChunkedRequest WSGIDaemonProcess
WSGIDestroyInterpreter WSGIDispatchScript WSGIDontWriteBytecode WSGIEnableSendfile
WSGIErrorOverride WSGIGroupAuthoritative WSGIHandlerScript WSGIIgnoreActivity
WSGIImportScript WSGILazyInitialization WSGIMapHEADToGET WSGINewRelicConfigFile
WSGINewRelicEnvironment WSGIPassApacheRequest WSGIPassAuthorization WSGIProcessGroup
WSGIPythonEggs WSGIPythonHashSeed WSGIPythonHome WSGIPythonOptimize WSGIPythonPath
WSGIPythonWarnings WSGIRestrictEmbedded WSGIRestrictProcess WSGIRestrictSignal
WSGIRestrictStdin WSGIRestrictStdout WSGIScriptAlias WSGIScriptAliasMatch
WSGIScriptReloading WSGIServerMetrics WSGISocketPrefix WSGISocketRotation
WSGITrustedProxies WSGITrustedProxyHeaders WSGIVerboseDebugging
""".split()
# Added by mod_wsgi 6 (its configuration reference).
MOD_WSGI_6 = """
WSGISwitchInterval WSGIPerInterpreterGIL WSGIFreeThreading <WSGIInterpreterOptions>
WSGISlowRequests WSGITelemetryService WSGITelemetryOptions
""".split()
DAEMON_OPTIONS = """
processes threads display-name home user group supplementary-groups umask lang locale chroot
script-user script-group python-home python-path python-eggs restart-interval
maximum-requests inactivity-timeout request-timeout deadlock-timeout startup-timeout
graceful-timeout eviction-timeout shutdown-timeout connect-timeout socket-timeout
queue-timeout listen-backlog socket-user cpu-time-limit cpu-priority memory-limit
virtual-memory-limit stack-size receive-buffer-size send-buffer-size header-buffer-size
response-buffer-size response-socket-timeout server-metrics newrelic-config-file
newrelic-environment interrupt-timeout switch-interval response-flush-delay
""".split()


def table_rows(doc: str) -> dict[str, list[str]]:
    """The generated table of `doc`: first column (without backticks) -> the other cells."""
    text = (DOCS / doc).read_text()
    text = text[text.index("<!-- BEGIN GENERATED"):text.index("<!-- END GENERATED")]
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [cell.strip() for cell in m.group(2).split("|")]
    return rows


def test_docs_match_the_code():
    run = subprocess.run([sys.executable, str(harness.REPO_ROOT / "scripts" / "directive-docs.py"),
                          "--check", "--module", str(harness.gantry_module_path())],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_mod_wsgi_directive_has_a_status():
    rows = table_rows("directives.md")
    missing = [name for name in MOD_WSGI_4_9 + MOD_WSGI_6 if name not in rows]
    assert not missing, f"not in docs/directives.md: {missing}"
    for name, (releases, status, why) in rows.items():
        assert status in ("implemented", "accepted, no effect (GANTRY0020)",
                          "refused (error at `apachectl -t`)"), (name, status)
        assert "MISSING" not in releases + why, (name, releases, why)
        assert ("4.9" in releases) == (name in MOD_WSGI_4_9), (name, releases)


def test_every_daemon_option_has_a_status():
    rows = table_rows("daemon-options.md")
    missing = [name for name in DAEMON_OPTIONS if name not in rows]
    assert not missing, f"not in docs/daemon-options.md: {missing}"
    for name, cells in rows.items():
        assert cells[2] in ("yes", "no"), (name, cells)
        if cells[2] == "no":  # says why having no effect is safe
            assert "No effect, safely" in cells[3] or "only" in cells[3], (name, cells[3])


@pytest.fixture(scope="module")
def checker():
    a = harness.Apache("", mpm="event", name="directive-docs")
    yield a
    a.cleanup()


def test_mod_wsgi_6_directives_accepted(checker):
    rc, out = checker.config_test(
        "WSGIPerInterpreterGIL On\nWSGIFreeThreading Off\nWSGISlowRequests 2.0\n"
        "WSGITelemetryService unix:/run/telemetry.sock interval=0.5\n"
        "WSGITelemetryOptions +CaptureUserAgent\nWSGITelemetryOptions None\n"
        "WSGISwitchInterval 0.002")
    assert rc == 0, out


@pytest.mark.parametrize("snippet", [
    "WSGIPerInterpreterGIL maybe",
    "WSGISlowRequests -1",
    "WSGITelemetryService udp:127.0.0.1:9000",
    "WSGITelemetryService unix:/run/t.sock interval=0.1",
    "WSGITelemetryOptions +CaptureUserAgent None",
    "WSGITelemetryOptions +Everything",
])
def test_mod_wsgi_6_directives_validated(checker, snippet):
    rc, out = checker.config_test(snippet)
    assert rc != 0 and "GANTRY000" in out and snippet.split()[0] in out, out


def test_interpreter_options_container_refused(checker):
    rc, out = checker.config_test(
        "<WSGIInterpreterOptions process-group=g application-group=app1>\n"
        "  WSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>")
    assert rc != 0 and "GANTRY0031" in out and "WSGIInterpreterOptions" in out, out
