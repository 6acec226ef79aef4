"""Daemon processes start from the spawner (docs/spawner.md), never from Apache's parent:
with WSGILazyInitialization Off the parent runs Python, yet every daemon process of a group -
the first ones, every recycled one, every spare - starts Python from the group's own
python-path=, python-home=, lang= and process group. The spawner is a child of Apache's
parent without Python in it, it survives graceful restarts, and a dead one is logged and
replaced. Spares show as "... spare" in ps until they take over (issue 10 items 3 and 5)."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import daemon_procs
import harness

pytestmark = [pytest.mark.embedded_only, pytest.mark.gantry_only]  # the spawner and its log ids are Gantry's

LAZY_OFF = """
WSGILazyInitialization Off
WSGIDaemonProcess pp display-name=%{GROUP} processes=1 threads=2 python-path=@ROOT@/pp maximum-requests=2 lang=C.UTF-8
WSGIDaemonProcess venv display-name=%{GROUP} processes=1 threads=1 python-home=@ROOT@/venv maximum-requests=2
WSGIDaemonProcess plain processes=1 threads=1 maximum-requests=2
WSGIScriptAlias /pp @APPS@/spawner.wsgi process-group=pp application-group=%{GLOBAL}
WSGIScriptAlias /venv @APPS@/spawner.wsgi process-group=venv application-group=%{GLOBAL}
WSGIScriptAlias /plain @APPS@/spawner.wsgi process-group=plain application-group=%{GLOBAL}
"""

LAZY_ON = """
WSGIRestrictEmbedded On
WSGIDaemonProcess pp display-name=%{GROUP} processes=1 threads=2 python-path=@ROOT@/pp maximum-requests=2
WSGIScriptAlias /pp @APPS@/spawner.wsgi process-group=pp application-group=%{GLOBAL}
"""

SPAWNER_TITLE = "(gantry-spawner)"


def prepare(apache):
    """python-path= and python-home= need directories that exist: a marker module in pp/ and
    a venv (no pip: only its home matters) built with the interpreter the module links."""
    apache.add_file("pp/pp_marker.py", "VALUE = 1\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(apache.root / "venv")],
                   check=True, timeout=120)


@pytest.fixture(scope="module")
def lazy_off(mpm):
    with harness.running(harness.Apache(LAZY_OFF, mpm=mpm, name="spawner-off"), prepare) as a:
        yield a


def try_info(apache, path):
    """get_json(), or None while the server is not answering yet (a restart in progress)."""
    try:
        r = apache.get(path)
    except OSError:
        return None
    return r.json() if r.status == 200 else None


def ppid(pid: int) -> int:
    return int(daemon_procs.status(pid).get("PPid", "0"))


def spawner_pids(apache) -> list[int]:
    """The spawner the parent last logged starting (GANTRY0088), if it runs under its title."""
    import re
    started = re.findall(r"GANTRY0088: daemon spawner started \(pid (\d+)\)", apache.log_text())
    if not started:
        return []
    pid = int(started[-1])
    return [pid] if daemon_procs.cmdline(pid) == SPAWNER_TITLE else []


def wait_for(condition, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_every_process_of_a_group_has_its_python_path_lang_and_group(lazy_off):
    # maximum-requests=2: 12 requests go through at least 5 processes, most of them started
    # long after the parent initialised its own Python.
    seen = {}
    for _ in range(12):
        got = lazy_off.get_json("/pp")
        seen.setdefault(got["pid"], got)
    assert len(seen) >= 5, sorted(seen)
    pp = str(lazy_off.root / "pp")
    for pid, got in seen.items():
        assert pp in got["path"], (pid, got["path"])
        assert got["prefix"] == "/usr", (pid, got["prefix"])
        assert got["process_group"] == "pp", (pid, got)
        assert got["environ_process_group"] == "pp", (pid, got)
        assert got["lang"] == "C.UTF-8", (pid, got)


def test_python_home_is_honoured_after_recycles(lazy_off):
    venv = str(lazy_off.root / "venv")
    pids = set()
    for _ in range(8):
        got = lazy_off.get_json("/venv")
        pids.add(got["pid"])
        assert got["prefix"] == venv, got
    assert len(pids) >= 3, pids


def test_spawner_is_a_child_of_apache_parent_without_python(lazy_off):
    spawners = wait_for(lambda: spawner_pids(lazy_off), what="the spawner")
    assert len(spawners) == 1, spawners
    spawner = spawners[0]
    assert ppid(spawner) == lazy_off.pid
    # The parent runs Python (WSGILazyInitialization Off); the spawner never did.
    assert daemon_procs.maps_python(lazy_off.pid), "the parent should have libpython mapped"
    assert not [m for m in daemon_procs.maps_python(spawner) if "libpython" in m], \
        daemon_procs.maps(spawner)


def test_daemon_processes_are_children_of_apache_parent(lazy_off):
    lazy_off.get_json("/pp")
    daemons = daemon_procs.daemon_pids(lazy_off)
    assert daemons
    for pid in daemons:
        assert ppid(pid) == lazy_off.pid, (pid, daemon_procs.cmdline(pid))


def served_by_spare(apache, path, spare):
    """Requests `path` until `spare` serves one (at most 3: maximum-requests=2)."""
    pids = []
    for _ in range(3):
        pids.append(apache.get_json(path)["pid"])
        if pids[-1] == spare:
            return
    raise AssertionError(f"spare {spare} never served: {pids}")


def test_spares_are_named_spare_in_ps_until_they_take_over(lazy_off):
    # One serving process and one spare per slot; `pgrep -xf '(wsgi:pp)'` counts 1. (A
    # snapshot with both in place and the spare blocked on the token: a recycle may be
    # under way when the test starts, and a spare still starting can lose the token to
    # the standby forked after the next recycle.)
    def settled():
        pids = [p for p in lazy_off.child_pids() if daemon_procs.cmdline(p).startswith("(wsgi:pp)")]
        # (and the group's template, "(wsgi:pp) template": docs/template.md)
        titles = sorted(daemon_procs.cmdline(p) for p in pids if daemon_procs.cmdline(p) != "(wsgi:pp) template")
        spares = daemon_procs.spare_pids(lazy_off, "pp")
        return (titles == ["(wsgi:pp)", "(wsgi:pp) spare"]
                and all(daemon_procs.waits_for_turn(p) for p in spares))
    wait_for(settled, what="one serving process and one spare waiting for its turn")
    serving = daemon_procs.group_pids(lazy_off, "pp")
    spare = daemon_procs.spare_pids(lazy_off, "pp")
    assert len(serving) == 1 and len(spare) == 1, (serving, spare)
    # At most two requests recycle the serving process: the spare takes over under the
    # plain name (checked after its first request: the second would recycle it in turn).
    served_by_spare(lazy_off, "/pp", spare[0])
    assert daemon_procs.cmdline(spare[0]) == "(wsgi:pp)"
    # Without display-name the spare is still "(wsgi:GROUP) spare"; once serving, it shows
    # Apache's own command line, as a serving process without display-name always did.
    plain_spare = wait_for(lambda: [p for p in lazy_off.child_pids()
                                    if daemon_procs.cmdline(p) == "(wsgi:plain) spare"
                                    and daemon_procs.waits_for_turn(p)],
                           what="the spare of 'plain' waiting for its turn")[0]
    served_by_spare(lazy_off, "/plain", plain_spare)
    assert daemon_procs.cmdline(plain_spare).startswith("/usr/sbin/apache2"), \
        daemon_procs.cmdline(plain_spare)


def test_spawner_survives_graceful_restart_and_new_generation_is_right(lazy_off):
    before = wait_for(lambda: spawner_pids(lazy_off), what="the spawner")
    lazy_off.graceful()
    gen1 = lazy_off.wait_for_log(r"GANTRY0063: daemon group 'pp'.*generation 1")
    assert gen1
    pp = str(lazy_off.root / "pp")
    seen = set()
    for _ in range(6):
        got = lazy_off.get_json("/pp")
        seen.add(got["pid"])
        assert pp in got["path"] and got["prefix"] == "/usr" and got["process_group"] == "pp", got
        assert got["ppid"] == lazy_off.pid, got
    assert len(seen) >= 2
    assert spawner_pids(lazy_off) == before


def test_spawner_survives_hard_restart(lazy_off):
    # SIGHUP: Apache restarts (prefork signals its whole process group, the spawner
    # included); the daemons stop and the next generation's come from the same spawner.
    before = wait_for(lambda: spawner_pids(lazy_off), what="the spawner")
    generations = len(re.findall(r"GANTRY0063: daemon group 'pp'", lazy_off.log_text()))
    since = lazy_off.log_size()
    lazy_off._track()
    os.kill(lazy_off.pid, signal.SIGHUP)
    wait_for(lambda: len(re.findall(r"GANTRY0063: daemon group 'pp'", lazy_off.log_text())) > generations,
             what="the next generation")
    lazy_off._wait_listening()
    pp = str(lazy_off.root / "pp")
    got = wait_for(lambda: try_info(lazy_off, "/pp"), what="a request after the restart")
    assert pp in got["path"] and got["process_group"] == "pp" and got["ppid"] == lazy_off.pid, got
    assert spawner_pids(lazy_off) == before
    assert "GANTRY0081" not in lazy_off.log_text(since)


# A killed spawner is reported by its death (GANTRY0081) or, when the parent was launching
# through it at that moment, by the failed launch (GANTRY0083); either way it is replaced.
KILLED = r"GANTRY008[13]: .*spawner \(pid {pid}\)"


@pytest.mark.log_ids("GANTRY0081", "GANTRY0082", "GANTRY0083")
def test_killed_spawner_in_parent_with_python_is_logged_and_group_keeps_serving(lazy_off):
    # Python runs in the parent: a spawner forked now would hand its daemons the parent's
    # interpreter. It is replaced anyway, so the group keeps serving, and that is an error.
    lazy_off.get_json("/pp")
    since = lazy_off.log_size()
    old = wait_for(lambda: spawner_pids(lazy_off), what="the spawner")[0]
    os.kill(old, signal.SIGKILL)
    lazy_off.wait_for_log(KILLED.format(pid=old), since=since)
    for _ in range(6):
        assert lazy_off.get("/pp").status == 200
    lazy_off.wait_for_log(r"GANTRY0082: ", since=since)
    new = wait_for(lambda: spawner_pids(lazy_off), what="a new spawner")
    assert new and new[0] != old


@pytest.mark.log_ids("GANTRY0081", "GANTRY0083")
def test_killed_spawner_is_replaced_by_a_pristine_one(mpm):
    with harness.running(harness.Apache(LAZY_ON, mpm=mpm, name="spawner-on"), prepare) as apache:
        apache.get_json("/pp")  # start-up is over (Apache listens before its post_config ends)
        old = wait_for(lambda: spawner_pids(apache), what="the spawner")[0]
        since = apache.log_size()
        os.kill(old, signal.SIGKILL)
        apache.wait_for_log(KILLED.format(pid=old), since=since)
        new = wait_for(lambda: [p for p in spawner_pids(apache) if p != old], what="a new spawner")
        assert not [m for m in daemon_procs.maps_python(new[0]) if "libpython" in m]
        pp = str(apache.root / "pp")
        seen = set()
        for _ in range(6):
            got = apache.get_json("/pp")
            seen.add(got["pid"])
            assert pp in got["path"] and got["ppid"] == apache.pid, got
        assert len(seen) >= 3
        assert "GANTRY0082" not in apache.log_text(since)


def other_build(apache) -> None:
    """Installs a copy of the module whose GNU build id differs (as an upgrade would) in
    @ROOT@/upgraded and points the configuration's LoadModule at it."""
    import shutil
    import struct
    source = harness.gantry_module_path().parent
    target = apache.root / "upgraded"
    target.mkdir()
    for name in ("mod_gantry.so", "mod_gantry_python.so"):
        shutil.copy2(source / name, target / name)
    so = target / "mod_gantry.so"
    data = bytearray(so.read_bytes())
    header = struct.pack("<III", 4, 20, 3) + b"GNU\0"  # an NT_GNU_BUILD_ID note, 20 bytes
    at = data.find(header)
    assert at >= 0, "no GNU build id note in mod_gantry.so"
    desc = at + len(header)
    data[desc:desc + 20] = bytes(b ^ 0xFF for b in data[desc:desc + 20])
    so.write_bytes(bytes(data))
    conf = apache.conf.read_text()
    apache.conf.write_text(conf.replace(f"LoadModule wsgi_module {source}/mod_gantry.so",
                                        f"LoadModule wsgi_module {so}"))


def test_spawner_of_another_build_is_replaced_after_graceful_restart(mpm):
    # A graceful restart after an upgrade: the spawner still runs the first start's code, so
    # it must not start the new generation's daemons; it is replaced by one of the new build.
    with harness.running(harness.Apache(LAZY_ON, mpm=mpm, name="spawner-upgrade"), prepare) as apache:
        apache.get_json("/pp")
        old = wait_for(lambda: spawner_pids(apache), what="the spawner")[0]
        other_build(apache)
        since = apache.log_size()
        apache.graceful()
        apache.wait_for_log(rf"GANTRY0084: the daemon spawner \(pid {old}\) runs another build", since=since)
        new = wait_for(lambda: [p for p in spawner_pids(apache) if p != old], what="a new spawner")
        assert "upgraded/mod_gantry.so" in daemon_procs.maps(new[0])
        got = wait_for(lambda: try_info(apache, "/pp"), what="the new generation")
        assert str(apache.root / "pp") in got["path"] and got["ppid"] == apache.pid, got
        assert "GANTRY0082" not in apache.log_text(since)
