"""Security checklist S13, failure injection: a daemon process whose setgroups(), setgid(),
setuid() or chdir(home=) fails must not go on. An LD_PRELOAD shim
(identity_failure_shim.c, built here with the system's C compiler) makes one of those calls
fail with an errno in the processes of group fail-CALL only. Each such process logs one
line at alert level naming the step, the errno and the option to check, and exits before
it starts Python (no "Initialised Python" line from it, no script loaded); a request for
the group gets an error, not a hang; a group whose calls succeed serves all along.
(test_daemon_identity.py checks the identity a daemon that did start ends up with.)"""
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import harness

pytestmark = pytest.mark.gantry_only  # Gantry's log ids and messages

CALLS = {  # the call the shim fails -> the line Gantry logs for it
    "setgroups": ("GANTRY0055", r"setgroups\(\) for user '[^']+' failed: Operation not permitted"),
    "setgid": ("GANTRY0055", r"setgid\(\d+\) failed: Operation not permitted"),
    "setuid": ("GANTRY0055", r"setuid\(\d+\) failed: Operation not permitted"),
    "chdir": ("GANTRY0057", r"chdir\([^)]*\) failed: Permission denied"),
}
CONFIG = "\n".join(
    f"WSGIDaemonProcess fail-{call} processes=1 threads=1 connect-timeout=1 socket-timeout=1"
    f" home=@STATE@ display-name=%{{GROUP}}\n"
    f"WSGIScriptAlias /{call} @APPS@/reliability.wsgi process-group=fail-{call}"
    " application-group=%{GLOBAL}" for call in CALLS) + """
WSGIDaemonProcess good processes=1 threads=1 home=@STATE@ display-name=%{GROUP}
WSGIScriptAlias /good @APPS@/reliability.wsgi process-group=good application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
"""
# The failures themselves, the parent's record of each exit and its back-off (template and
# processes), and the Apache child's answer for a group with no process.
IDS = ("GANTRY0055", "GANTRY0057", "GANTRY0065", "GANTRY0202", "GANTRY0661", "GANTRY0662",
       "GANTRY0669", "GANTRY0071", "GANTRY0072", "GANTRY0073")


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler to build the LD_PRELOAD shim")
    out = tmp_path_factory.mktemp("shim") / "identity_failure_shim.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(out),
                    str(Path(__file__).with_name("identity_failure_shim.c")), "-ldl"],
                   check=True, timeout=120)
    out.parent.chmod(0o755)
    return out


@pytest.fixture(scope="module")
def apache(mpm, shim):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, extra_env={"LD_PRELOAD": str(shim)})) as a:
        yield a


@pytest.mark.log_ids(*IDS)
@pytest.mark.parametrize("call", list(CALLS))
def test_failed_identity_call_stops_the_process_before_python(apache, call):
    gantry_id, step = CALLS[call]
    line = apache.wait_for_line(
        lambda ln: ln.gantry_id == gantry_id and f"group 'fail-{call}'" in ln.message,
        timeout=harness.REQUEST_TIMEOUT, what=f"{gantry_id} for fail-{call}")
    assert line.severity <= harness.LEVELS.index("crit"), line.raw
    assert re.search(step, line.message), line.raw
    pid = int(re.search(r"\(pid (\d+)\)", line.message).group(1))
    # It exited, and never got as far as Python or the application.
    deadline = time.monotonic() + harness.REQUEST_TIMEOUT
    while harness._proc_start_time(pid) is not None:
        assert time.monotonic() < deadline, f"pid {pid} still runs after {line.raw}"
        time.sleep(0.05)
    own = [ln for ln in apache.log_lines() if ln.pid == pid]
    assert not [ln.raw for ln in own if ln.gantry_id in ("GANTRY0101", "GANTRY0105", "GANTRY0203")]
    # A request for the group is an error, not a hang.
    started = time.monotonic()
    assert apache.get(f"/{call}/info").status in (502, 503, 504)
    assert time.monotonic() - started < 1 + 10


def test_a_group_whose_calls_succeed_serves(apache):
    assert apache.get_json("/good/info")["process_group"] == "good"
