"""Daemon processes are forked from their group's template (docs/template.md): the template
starts Python once for the group (python-path=, lang=), the processes and spares are forked
from it and share its pages copy-on-write; with preload=On it also imports the application
once (and gc.freeze()s it), and the processes serve it without importing it again. A killed
template is logged and replaced while the group keeps serving; recycles (maximum-requests,
under load) and graceful restarts fail no request."""
import os
import re
import signal
import threading
import time

import pytest

import daemon_procs
import harness
import lifecycle_load
import syscall_trace

pytestmark = [pytest.mark.embedded_only, pytest.mark.gantry_only]  # templates are Gantry's own

CONFIG = """
WSGIRestrictEmbedded On
WSGIDaemonProcess one display-name=%{GROUP} processes=1 threads=2 python-path=@ROOT@/pp
WSGIDaemonProcess four display-name=%{GROUP} processes=4 threads=2 python-path=@ROOT@/pp maximum-requests=6
WSGIDaemonProcess pre display-name=%{GROUP} processes=2 threads=2 preload=On maximum-requests=6
WSGIScriptAlias /one @APPS@/preload.wsgi process-group=one application-group=%{GLOBAL}
WSGIScriptAlias /four @APPS@/preload.wsgi process-group=four application-group=%{GLOBAL}
WSGIScriptAlias /pre @APPS@/preload.wsgi process-group=pre application-group=%{GLOBAL}
WSGIDaemonProcess rel display-name=%{GROUP} processes=1 threads=2 preload=On
WSGIScriptAlias /rel @ROOT@/reload/app.wsgi process-group=rel application-group=%{GLOBAL}
<Directory @ROOT@/reload>
  Require all granted
</Directory>
"""


def prepare(apache):
    apache.add_file("pp/pp_marker.py", "VALUE = 1\n")
    apache.add_file("reload/app.wsgi", (apache.apps / "preload.wsgi").read_text())


@pytest.fixture(scope="module")
def apache(mpm):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="template"), prepare) as a:
        yield a


def template_pid(apache, group, wait=10.0):
    """The pid of the group's template ("(wsgi:GROUP) template" in ps)."""
    deadline = time.monotonic() + wait
    while True:
        found = [p for p in apache.child_pids() if daemon_procs.cmdline(p) == f"(wsgi:{group}) template"]
        if len(found) == 1:
            return found[0]
        assert time.monotonic() < deadline, f"no single template for {group}: {found}"
        time.sleep(0.05)


def serving_pids(apache, group, count, wait=15.0):
    deadline = time.monotonic() + wait
    while True:
        pids = daemon_procs.group_pids(apache, group)
        if len(pids) == count:
            return pids
        assert time.monotonic() < deadline, f"{group}: {pids}"
        time.sleep(0.05)


def test_processes_are_children_of_apache_forked_from_the_template(apache):
    tpl = template_pid(apache, "four")
    # A child of Apache's parent (cloned by the spawner with CLONE_PARENT), like its processes.
    assert os.getppid() != tpl
    assert daemon_procs.status(tpl)["PPid"] == str(apache.pid)
    for pid in serving_pids(apache, "four", 4):
        assert daemon_procs.status(pid)["PPid"] == str(apache.pid)
        # Forked after the template (started later; pids may wrap, so their order says nothing).
        assert daemon_procs.age(pid) <= daemon_procs.age(tpl), (pid, tpl)
    got = apache.get_json("/four")
    assert got["ppid"] == apache.pid
    # Not imported by the template (preload is off): by the serving process itself, after
    # the fork.
    assert got["import_pid"] == got["pid"]
    assert got["after_fork"] == []


def descriptors(pid):
    out = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            pass
    return out


def test_forked_processes_do_not_inherit_the_templates_descriptors(apache):
    tpl = template_pid(apache, "four")
    template_sockets = {d for d in descriptors(tpl) if d.startswith("socket:")}
    assert template_sockets  # its control socket
    for pid in serving_pids(apache, "four", 4):
        mine = descriptors(pid)
        # Not the template's control socket (only Apache's parent may ask for processes),
        # not the Python object the template loaded.
        assert not template_sockets & set(mine), (pid, mine)
        assert not any("mod_gantry_python" in d for d in mine), (pid, mine)
    # The template maps each new process's own slot page and closes the pages' descriptor
    # before forking (its at-fork hooks may run application code): it keeps neither.
    assert not any("gantry-slots" in d for d in descriptors(tpl)), descriptors(tpl)
    maps = open(f"/proc/{tpl}/maps").read()
    assert "gantry-slots" not in maps, maps


def unix_socket_inodes():
    """The inodes of every unix socket on this machine, as socket:[INODE] links name them."""
    with open("/proc/net/unix") as f:
        next(f)
        return {f"socket:[{line.split()[6]}]" for line in f}


def test_apache_children_hold_none_of_the_parents_daemon_descriptors(apache):
    """Only Apache's parent asks for processes and only daemon processes accept: an Apache
    child keeps none of the groups' listening sockets, the templates' or the spawner's
    control sockets (all unix sockets of the parent), the slot pages or the writable
    status boards (memfds) - it drops them when it starts (daemon_child_init)."""
    assert apache.get("/one").status == 200  # a child is up and has served
    command = daemon_procs.cmdline(apache.pid)
    children = [p for p in apache.child_pids() if daemon_procs.cmdline(p) == command]
    assert children
    held = set(descriptors(apache.pid))
    parents_unix = held & unix_socket_inodes()
    assert len(parents_unix) >= 4 + 1, held  # 4 groups' listeners, the templates, the spawner
    assert any("gantry-slots" in d for d in held) and any("gantry-status" in d for d in held), held

    def keeps_some(pid):
        mine = set(descriptors(pid))
        return (parents_unix & mine) or any(d.startswith("/memfd:gantry") for d in mine)

    # A child the MPM is forking right now holds them until its child_init: each must drop
    # them within the deadline; one that keeps them keeps them for good.
    deadline = time.monotonic() + 10
    while (keeping := [p for p in children if os.path.exists(f"/proc/{p}") and keeps_some(p)]):
        assert time.monotonic() < deadline, {p: sorted(descriptors(p)) for p in keeping}
        time.sleep(0.05)


def test_the_template_holds_no_other_process_memory_while_application_code_runs(apache):
    # preload=On: the application's before-fork hook runs in the template, as it forks the
    # process that now serves (which inherited what the hook saw). By then the template has
    # mapped that process's own slot page and status scoreboard and closed their
    # descriptors: nothing there reaches another slot's page or another process's board.
    got = apache.get_json("/pre")
    assert got["import_pid"] != got["pid"]
    held = got["fds_at_fork"]
    assert held, got
    assert not any("gantry-slots" in d or "gantry-status" in d for d in held), held


def test_children_share_the_templates_pages(apache):
    for path in ("/one", "/four"):
        apache.get_json(path)
    one = serving_pids(apache, "one", 1)
    four = serving_pids(apache, "four", 4)
    figures = {pid: daemon_procs.smaps_rollup(pid) for pid in one + four}
    for pid, r in figures.items():
        shared = r["Shared_Clean"] + r["Shared_Dirty"]
        # Python's start-up state is the template's: most of the process is shared, and a
        # good part of it is anonymous memory the template wrote (heap, interned objects).
        assert shared > 0.6 * r["Rss"], (pid, r)
        assert r["Shared_Dirty"] > 2048, (pid, r)
    # The more processes share the pages, the smaller each one's share (PSS).
    pss_one = figures[one[0]]["Pss"]
    pss_four = max(figures[p]["Pss"] for p in four)
    print(f"PSS of a daemon process: group of 1 {pss_one} KiB, group of 4 {pss_four} KiB;"
          f" RSS {figures[one[0]]['Rss']} KiB")
    assert pss_four < pss_one


def test_python_path_and_settings_apply_in_every_process(apache):
    since = apache.log_size()
    seen = set()
    deadline = time.monotonic() + 60
    # maximum-requests=6 over 4 processes: 40 requests recycle each at least once.
    while len(seen) < 8 and time.monotonic() < deadline:
        got = apache.get_json("/four")
        assert got["path"][0].endswith("/pp"), got["path"]
        seen.add(got["pid"])
    assert len(seen) >= 8
    # Recycled processes are forked from the template too (the parent's debug line says so
    # only at debug level; the pids tell: each one's Python was not started by itself).
    apache.wait_for_log(r"GANTRY0204: daemon process exiting: group four", since)


def test_preload_imports_once_in_the_template(apache):
    tpl = template_pid(apache, "pre")
    seen = {}
    deadline = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < deadline:
        got = apache.get_json("/pre")
        seen[got["pid"]] = got
    assert len(seen) == 2
    randoms = set()
    for pid, got in seen.items():
        # Imported by the template, never again in the process that serves.
        assert got["import_pid"] == tpl, got
        assert pid != tpl
        # Both after-fork hooks ran in this process: os.register_at_fork and process_started.
        assert got["after_fork"] == [pid], got
        assert got["started"] == [[pid, tpl, True, "pre"]], got
        randoms.update(got["random"])
    # random re-seeds itself in each child (os.register_at_fork): no two draw the same.
    assert len(randoms) == 2
    apache.wait_for_log(r"GANTRY0665: the template of daemon group 'pre' \(pid %d\) preloaded 1 script" % tpl)


def test_preload_survives_recycles_without_reimport(apache):
    tpl = template_pid(apache, "pre")
    pids = set()
    for _ in range(30):  # maximum-requests=6, 2 processes: several recycles
        got = apache.get_json("/pre")
        assert got["import_pid"] == tpl
        pids.add(got["pid"])
    assert len(pids) >= 3


def test_script_change_with_preload_replaces_the_template_first(apache):
    old = template_pid(apache, "rel")
    first = apache.get_json("/rel")
    assert first["import_pid"] == old
    script = apache.root / "reload" / "app.wsgi"
    script.write_text(script.read_text() + "\nCHANGED = True\n")
    stat = script.stat()
    os.utime(script, (stat.st_atime, stat.st_mtime + 10))
    since = apache.log_size()
    # WSGIScriptReloading On (the default): the process notices, reloads for this request and
    # recycles after it; the parent replaces the template before forking the next process.
    assert apache.get("/rel").status == 200
    apache.wait_for_log(r"GANTRY0668: daemon group 'rel' \(preload=On\): a WSGI script changed; replacing"
                        r" its template \(pid %d\)" % old, since, timeout=15)
    new = template_pid(apache, "rel", wait=15)
    assert new != old
    deadline = time.monotonic() + 20
    while True:
        got = apache.get_json("/rel")
        if got["pid"] != first["pid"] and got["import_pid"] == new:
            break
        assert time.monotonic() < deadline, got
        time.sleep(0.1)
    # Imported by the new template, with the change: nothing left to reload.
    assert got["after_fork"] == [got["pid"]]


@pytest.mark.log_ids("GANTRY0661")
def test_template_crash_is_logged_and_the_group_recovers(apache):
    since = apache.log_size()
    old = template_pid(apache, "four")
    os.kill(old, signal.SIGKILL)
    line = apache.wait_for_line(lambda l: "GANTRY0661" in l.message and f"(pid {old})" in l.message,
                                since, what="template death")
    assert line.level == "error"
    assert "killed by SIGKILL" in line.message
    # The running processes keep serving meanwhile, and recycles go on.
    for _ in range(12):
        apache.get_json("/four")
    new = template_pid(apache, "four", wait=15)
    assert new != old
    # Processes recycled after that are forked from the new template (the parent notices it
    # is ready at the next process it needs, or in its monitor, about every 10 s).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = apache.get_json("/four")
        if got["started"] and got["started"][0][1] == new:
            break
    else:
        pytest.fail("no process forked from the new template")
    apache.wait_for_log(r"GANTRY0660: daemon group 'four': template process \(pid %d\) ready" % new, since)


def spawner_pid(apache) -> int:
    """The spawner the parent last logged starting (GANTRY0088)."""
    started = re.findall(r"GANTRY0088: daemon spawner started \(pid (\d+)\)", apache.log_text())
    assert started, "no GANTRY0088 line"
    return int(started[-1])


@pytest.mark.log_ids("GANTRY0661")
def test_a_new_template_closes_each_inherited_descriptor_once(apache):
    """The spawner's child (here a replacement template, and what it forks) closes each
    descriptor it inherited once: a second close() of a number (EBADF when nothing reused it)
    would close whatever took that number meanwhile."""
    spawner = spawner_pid(apache)
    out = apache.root / f"strace-close-{time.monotonic_ns()}.out"
    with syscall_trace.tracing([spawner], "close", out):
        since = apache.log_size()
        old = template_pid(apache, "one")
        os.kill(old, signal.SIGKILL)
        apache.wait_for_log(r"GANTRY0660: daemon group 'one': template process \(pid \d+\) ready",
                            since, timeout=20)
    calls = out.read_text()
    assert "close(" in calls, "strace saw no close() of the new template"
    assert "EBADF" not in calls, [line for line in calls.splitlines() if "EBADF" in line]


def test_recycling_under_load_fails_no_request(apache):
    result = lifecycle_load.run_load(apache.port, "/four", threads=6,
                                     until=lambda r: len(r.pids) >= 12, max_seconds=60)
    print(result.summary())
    assert result.failures == 0, result.summary()
    assert len(result.pids) >= 12


def test_graceful_restart_with_preload_fails_no_request(apache):
    old = template_pid(apache, "pre")
    stop = threading.Event()
    results = []

    def load():
        results.append(lifecycle_load.run_load(apache.port, "/pre", threads=4,
                                                until=lambda r: stop.is_set(), max_seconds=60,
                                                keep_alive=False))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)  # load is flowing before the restart (not a condition: just overlap)
        apache.graceful()
        new = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = template_pid(apache, "pre")
            if new != old:
                break
        got = apache.get_json("/pre")
        assert got["import_pid"] == new  # the new generation's template imported it
    finally:
        stop.set()
        worker.join()
    assert results[0].failures == 0, results[0].summary()
    # The old template went with its generation.
    assert daemon_procs.cmdline(old) == "" or not os.path.exists(f"/proc/{old}")
