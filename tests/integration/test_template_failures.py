"""A group's template that never gets ready, or keeps dying (docs/template.md): Apache's
start waits for the templates once, not once per group; the group serves meanwhile with
processes started without a template; a template stuck at import is stopped and started
again (GANTRY0670, naming the group, the cause and the fix), one that keeps dying is
started again with a growing back-off (GANTRY0661); either recovers once the cause is
gone. The app misbehaves in the template only, while a marker file exists."""
import re
import time

import pytest

import harness

pytestmark = [pytest.mark.embedded_only, pytest.mark.gantry_only]  # templates are Gantry's own

CONFIG = """
WSGIRestrictEmbedded On
WSGIDaemonProcess hang display-name=%{GROUP} processes=1 threads=2 preload=On maximum-requests=3
WSGIDaemonProcess hang2 display-name=%{GROUP} processes=1 threads=2 preload=On
WSGIDaemonProcess crash display-name=%{GROUP} processes=1 threads=2 preload=On maximum-requests=3
WSGIDaemonProcess good display-name=%{GROUP} processes=1 threads=2
WSGIDaemonProcess stuckall display-name=%{GROUP} processes=1 threads=2 preload=On socket-timeout=3
WSGIScriptAlias /hang2 @ROOT@/app/app.wsgi process-group=hang2 application-group=%{GLOBAL}
WSGIScriptAlias /hang @ROOT@/app/app.wsgi process-group=hang application-group=%{GLOBAL}
WSGIScriptAlias /crash @ROOT@/app/app.wsgi process-group=crash application-group=%{GLOBAL}
WSGIScriptAlias /good @ROOT@/app/app.wsgi process-group=good application-group=%{GLOBAL}
WSGIScriptAlias /stuckall @ROOT@/app/app.wsgi process-group=stuckall application-group=%{GLOBAL}
<Directory @ROOT@/app>
  Require all granted
</Directory>
"""

# How long start-up waits for the templates (module/daemon_supervisor.cpp), and how long a
# template may take to get ready before it is stopped (module/daemon_template.cpp).
STARTUP_WAIT = 30
READY_LIMIT = 30

# GANTRY0670: a stuck template stopped; GANTRY0661: a template died (the stuck ones are
# killed, the crashing one exits); GANTRY0073: a request to the group whose every process
# is stuck at import.
pytestmark.append(pytest.mark.log_ids("GANTRY0661", "GANTRY0670", "GANTRY0073"))

started_at = {}


def prepare(apache):
    apache.add_file("app/app.wsgi", (apache.apps / "template_trouble.wsgi").read_text())
    for marker in ("hang.hang", "hang2.hang", "crash.crash", "stuckall.hangall"):
        apache.add_file(f"app/{marker}", "")
    started_at[apache.mpm] = time.monotonic()


@pytest.fixture(scope="module")
def apache(mpm):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="tplfail"), prepare) as a:
        yield a


def get_when_up(apache, path, deadline):
    """The first answer to `path` (Apache's children start only after the start-up wait)."""
    while True:
        try:
            return apache.get(path)
        except OSError:
            assert time.monotonic() < deadline, f"{path}: no answer"
            time.sleep(0.2)


def lines(apache, gantry_id, group):
    return [ln for ln in apache.log_lines(0)
            if ln.gantry_id == gantry_id and f"daemon group '{group}'" in ln.message]


def test_start_waits_for_stuck_templates_once_and_serves(apache):
    began = started_at[apache.mpm]
    r = get_when_up(apache, "/good", began + 3 * STARTUP_WAIT)
    assert r.status == 200, r.text
    waited = time.monotonic() - began
    # Two stuck templates: one shared wait, not one per group (60 s).
    assert waited < STARTUP_WAIT + 20, waited
    for group in ("hang", "hang2"):
        (line,) = lines(apache, "GANTRY0662", group)
        assert line.level == "warn", line.raw
        assert "not ready" in line.message and "preload=On" in line.message, line.raw


def test_a_group_serves_without_its_stuck_or_crashing_template(apache):
    for group in ("hang", "hang2", "crash"):
        got = apache.get_json(f"/{group}")
        assert got["group"] == group
        assert got["started"] == [0], got  # started through the spawner, imported by itself


def test_a_group_stuck_at_import_everywhere_answers_504_and_says_so(apache):
    # The import waits in the daemon process too: no thread ever accepts, the request gets
    # socket-timeout's 504, and the line says the process is still starting - look at import.
    assert get_when_up(apache, "/good", started_at[apache.mpm] + 3 * STARTUP_WAIT).status == 200
    since = apache.log_size()
    began = time.monotonic()
    r = apache.get("/stuckall")
    assert r.status == 504, r.text
    assert time.monotonic() - began < 3 + 10
    line = apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0073" and "'stuckall'" in ln.message, since,
                                what="the 504's line")
    assert "still starting (Python, or the import of its preloaded scripts)" in line.message, line.raw


def wait_for_ready_template(apache, group, since, timeout):
    line = apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0660" and f"group '{group}'" in ln.message,
                                since, timeout=timeout, what=f"{group}'s template ready")
    return int(re.search(r"\(pid (\d+)\)", line.message).group(1))


def wait_for_process_forked_from(apache, group, template, timeout=30):
    # maximum-requests=3: recycles bring a process forked from the template that is ready.
    deadline = time.monotonic() + timeout
    while True:
        got = apache.get_json(f"/{group}")
        if got["started"] == [template]:
            return
        assert time.monotonic() < deadline, got
        time.sleep(0.05)


def test_a_stuck_template_is_stopped_with_the_cause_and_fix_and_recovers(apache):
    began = started_at[apache.mpm]
    line = apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0670" and "'hang'" in ln.message, 0,
                                timeout=max(5, began + READY_LIMIT + 30 - time.monotonic()),
                                what="the stuck template stopped")
    assert line.level == "error", line.raw
    # The group, what did not finish (the preload script), what to do.
    assert str(apache.root / "app" / "app.wsgi") in line.message, line.raw
    assert "py-spy dump --pid" in line.message and "allowed 60 s" in line.message, line.raw
    pid = int(re.search(r"\(pid (\d+)\)", line.message).group(1))
    apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0661" and f"(pid {pid})" in ln.message, 0,
                         what="its death")
    # The next one waits at import too, until what it waits for is back: then it gets
    # ready, and the group's processes are forked from it.
    since = apache.log_size()
    (apache.root / "app" / "hang.hang").unlink()
    template = wait_for_ready_template(apache, "hang", since, timeout=30)
    assert template != pid
    wait_for_process_forked_from(apache, "hang", template)


def test_a_crashing_template_backs_off_and_recovers(apache):
    def delays():
        out = []
        for ln in lines(apache, "GANTRY0661", "crash"):
            assert ln.level == "error", ln.raw
            assert "exited with status 70" in ln.message, ln.raw
            out.append(int(re.search(r"starting one in (\d+) s", ln.message).group(1)))
        return out

    deadline = time.monotonic() + 60
    while 4 not in delays():
        assert time.monotonic() < deadline, delays()
        time.sleep(0.2)
    got = delays()
    # Dying within 10 s of its start, again and again: started again at once, then 1, 2,
    # 4 ... s later (the first death is noticed after start-up's wait, so counts as late).
    assert got == sorted(got) and got[-3:] == [1, 2, 4], got
    # Meanwhile the group serves.
    assert apache.get_json("/crash")["group"] == "crash"
    since = apache.log_size()
    (apache.root / "app" / "crash.crash").unlink()
    template = wait_for_ready_template(apache, "crash", since, timeout=30 + 30)
    wait_for_process_forked_from(apache, "crash", template)
