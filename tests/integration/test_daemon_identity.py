"""Who daemon processes run as, and who may talk to them (issue 3).

- The app's os.getuid()/getgid() are the configured user=/group=; without them, Apache's
  User/Group (www-data here). user=root is a configuration error.
- Only Apache's child user can connect to a group's socket: another unprivileged user
  (nobody) gets EACCES. A peer that is not an Apache child of this server (root here) is
  refused before it is read: the daemon logs it and closes.
- A stale file where a socket is to be created (left by an earlier run) does not stop the
  group from starting.
- WSGIRestrictProcess: a request may only select a listed group (here via %{ENV:...}
  from a request header); any other is refused with 500 and a line naming both.
- kill -9 of a daemon process: replaced, next request served (also in test_daemon_failures).
"""
import glob
import grp
import os
import pwd
import re
import socket
import struct
import subprocess
import time

import pytest

import harness

TEST_USER = "gantrytest"

CONFIG = f"""
WSGIDaemonProcess plain processes=1 threads=2
WSGIDaemonProcess other processes=1 threads=2 user={TEST_USER} group={TEST_USER} home=@ROOT@
WSGIScriptAlias /plain @APPS@/daemon.wsgi process-group=plain application-group=%{{GLOBAL}}
WSGIScriptAlias /other @APPS@/daemon.wsgi process-group=other application-group=%{{GLOBAL}}
WSGIScriptAlias /select @APPS@/daemon.wsgi application-group=%{{GLOBAL}}
SetEnvIf X-Group "^([a-z]+)$" SELECTED_GROUP=$1
<Location /select>
    WSGIProcessGroup %{{ENV:SELECTED_GROUP}}
    WSGIRestrictProcess plain
</Location>
"""


def ensure_test_user() -> pwd.struct_passwd:
    """A system user for user=/group= (created once, idempotently)."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", TEST_USER], check=True)
        return pwd.getpwnam(TEST_USER)


@pytest.fixture(scope="module")
def apache(mpm):
    ensure_test_user()
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="identity")) as a:
        yield a


def info(apache, prefix):
    r = apache.get(f"{prefix}/info")
    assert r.status == 200, (prefix, r.status, r.text)
    return r.json()


# The protocol version this build speaks (include/gantry/protocol.hpp), so the hand-made
# HELLO below fails on its secret alone.
PROTOCOL_VERSION = int(re.search(r"kProtocolVersion = (\d+);",
                                 (harness.REPO_ROOT / "include/gantry/protocol.hpp").read_text()).group(1))


def sockets(apache) -> list[str]:
    """The groups' sockets: PREFIX.PID.GENERATION.ID.sock (the naming Gantry shares with
    mod_wsgi) in the runtime directory (Gantry) or /var/run/apache2 (Debian's mod_wsgi)."""
    return sorted(glob.glob(str(apache.root / "run" / "wsgi.*.sock")) +
                  glob.glob(f"/var/run/apache2/wsgi.{apache.pid}.*.sock"))


def test_default_user_is_apaches(apache):
    www = pwd.getpwnam("www-data")
    e = info(apache, "/plain")
    assert (e["uid"], e["gid"]) == (www.pw_uid, www.pw_gid)
    assert e["pid"] != apache.pid


def test_configured_user_and_group(apache):
    user = pwd.getpwnam(TEST_USER)
    group = grp.getgrnam(TEST_USER)
    e = info(apache, "/other")
    assert (e["uid"], e["gid"]) == (user.pw_uid, group.gr_gid)
    assert 0 not in e["groups"]  # root's supplementary groups were dropped
    status = harness.Path(f"/proc/{e['pid']}/status").read_text()
    uids = next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
    assert set(uids) == {str(user.pw_uid)}  # real, effective, saved, fs: no way back to root


@pytest.mark.gantry_only  # mod_wsgi 4.9 accepts user=root at config time and fails later
def test_user_root_is_a_config_error(apache):
    rc, out = apache.config_test("WSGIDaemonProcess bad user=root\n")
    assert rc != 0, out
    assert "root" in out and "user" in out, out


def connect_as(user: str, path: str) -> str:
    """Connects to `path` as `user` in a separate process; 'ok' or the errno name."""
    code = ("import socket, errno\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            f"try:\n    s.connect({path!r}); print('ok')\n"
            "except OSError as e:\n    print(errno.errorcode.get(e.errno, e.errno))\n")
    p = subprocess.run(["runuser", "-u", user, "--", "/usr/bin/python3", "-c", code],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return p.stdout.decode().strip()


@pytest.mark.log_ids("GANTRY0500")  # the connections succeed; the daemons then refuse them
def test_only_apaches_user_may_connect(apache):
    info(apache, "/plain")
    paths = sockets(apache)
    assert len(paths) == 2, paths
    for path in paths:
        assert connect_as("www-data", path) == "ok"
        assert connect_as("nobody", path) == "EACCES"


@pytest.mark.gantry_only
@pytest.mark.log_ids("GANTRY0500")
def test_a_peer_that_is_not_an_apache_child_is_refused(apache):
    """Root (this test) ignores the socket's mode, but is no Apache child of this server: the
    daemon refuses it before reading a byte, whatever it sends (docs/security.md; the
    secret's own check is unit-tested, and test_tenant_isolation.py plays a tenant)."""
    info(apache, "/plain")
    offset = apache.log_size()
    path = sockets(apache)[0]
    hello = struct.pack("<BBHI", 1, 0, 0, 44) + b"GANTRY\r\n" + struct.pack("<HH", PROTOCOL_VERSION, 0)
    hello += b"\0" * 32
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(path)
        try:
            s.sendall(hello)
            assert s.recv(100) == b""  # closed without a word
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed before the HELLO was read: as good
    line = apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0500", since=offset)
    assert f"from pid {os.getpid()} (uid 0" in line.message, line.raw
    assert "not Apache's parent" in line.message, line.raw
    # The group still serves.
    assert info(apache, "/plain")["process_group"] == "plain"


@pytest.mark.log_ids("GANTRY0500")  # connect_as() below: not an Apache child
def test_stale_socket_file_is_replaced(apache):
    """A dead socket where the next generation's socket goes (left by a crashed earlier run
    whose parent had the same pid) does not stop the group: the graceful restart's groups
    still serve. (A file that is not a socket is never removed: GANTRY0052 names it.)"""
    info(apache, "/plain")
    stale = []
    for path in sockets(apache):
        head, pid, generation, group_id, ext = path.rsplit(".", 4)
        nxt = f"{head}.{pid}.{int(generation) + 1}.{group_id}.{ext}"
        # A socket nobody listens on any more: bound, then closed (the file stays).
        with socket.socket(socket.AF_UNIX) as dead:
            dead.bind(nxt)
        stale.append(nxt)
    apache.graceful()
    deadline = time.monotonic() + 15
    status = None
    while status != 200 and time.monotonic() < deadline:
        try:
            status = apache.get("/plain/info").status
        except OSError:  # the old children closing connections during the restart
            time.sleep(0.1)
    assert status == 200
    assert info(apache, "/other")["process_group"] == "other"
    for path in stale:
        assert connect_as("www-data", path) == "ok", path  # a live socket again


def test_restrict_process_allows_listed_group(apache):
    r = apache.get("/select/info", headers={"X-Group": "plain"})
    assert r.status == 200 and r.json()["process_group"] == "plain"


@pytest.mark.log_ids("GANTRY0080")
def test_restrict_process_refuses_other_groups(apache):
    offset = apache.log_size()
    r = apache.get("/select/info", headers={"X-Group": "other"})
    assert r.status == 500
    assert b'"pid"' not in r.body
    if harness.IS_GANTRY:
        line = apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0080", since=offset)
        assert "'other'" in line.message and "/select/info" in line.message, line.raw
        assert "WSGIRestrictProcess" in line.message and "plain" in line.message, line.raw
