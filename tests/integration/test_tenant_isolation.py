"""One daemon group's code cannot act as another group (issue 12, docs/security.md).

Tenant a (user=www-data, Apache's own User) runs a hostile application beside tenant b
(user=nobody). The application looks through its own memory for the secret that opens a
group's socket - it finds its own group's, in the HELLO its request arrived with - and uses
it, with a well-formed HELLO + REQUEST, to ask b's daemon to run a script of a's choosing.
b refuses (the secret is per group, and a's process is not an Apache child) and logs it once,
naming b and a's pid. The same application is refused by its own group's socket too: a daemon
process is never a valid peer, whatever secret it holds. Root then reads every daemon's
memory: no daemon holds another group's secret, not even one started by a spawner that was
itself started again from Apache's parent, which knows them all.
"""
import json
import os
import re
import signal
import struct
import time
import urllib.parse
from pathlib import Path

import pytest

import harness

pytestmark = [pytest.mark.embedded_only, pytest.mark.gantry_only]

# The protocol version this build speaks (include/gantry/protocol.hpp): the tenant's HELLO
# is well-formed in every other respect.
PROTOCOL_VERSION = int(re.search(r"kProtocolVersion = (\d+);",
                                 (harness.REPO_ROOT / "include/gantry/protocol.hpp").read_text()).group(1))

CONFIG = """
WSGIDaemonProcess a display-name=%{GROUP} processes=1 threads=4 user=www-data
WSGIDaemonProcess b display-name=%{GROUP} processes=1 threads=4 user=nobody group=nogroup
WSGIDaemonProcess c display-name=%{GROUP} processes=1 threads=1 user=nobody group=nogroup
WSGIScriptAlias /a @APPS@/tenant_probe.wsgi process-group=a application-group=%{GLOBAL}
WSGIScriptAlias /b @APPS@/tenant_probe.wsgi process-group=b application-group=%{GLOBAL}
"""

EVIL = """
import os
def application(environ, start_response):
    with open(os.path.join(os.path.dirname(__file__), "pwned-%d" % os.getuid()), "w") as f:
        f.write("ran")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"PWNED uid=%d" % os.getuid()]
"""


def prepare(apache):
    (apache.state / "evil.wsgi").write_text(EVIL)


@pytest.fixture(scope="module")
def apache(mpm):
    with harness.running(harness.Apache(CONFIG, mpm=mpm, name="tenant"), prepare) as a:
        yield a


def socket_of(apache, group_id: int) -> str:
    found = sorted(Path(apache.root, "run").glob(f"wsgi.{apache.pid}.*.{group_id}.sock"))
    assert found, list(Path(apache.root, "run").iterdir())
    return str(found[-1])


def probe(apache, target: str, tries: int = 1) -> dict:
    query = urllib.parse.urlencode({"target": target, "script": str(apache.state / "evil.wsgi"),
                                    "version": PROTOCOL_VERSION, "tries": tries})
    return apache.get_json(f"/a/probe?{query}", )


def refusals(apache, since: int, group: str, pid: int) -> list:
    return [ln for ln in apache.log_lines(since)
            if ln.gantry_id == "GANTRY0500" and f"daemon group '{group}'" in ln.message
            and f"from pid {pid} " in ln.message]


def test_shared_users_are_warned_about_at_start(apache):
    """a runs as Apache's User beside other groups (GANTRY0501); b and c share a user
    (GANTRY0502). Both at warning level, at every start."""
    lines = apache.log_lines()
    apache_user = [ln for ln in lines if ln.gantry_id == "GANTRY0501"]
    shared = [ln for ln in lines if ln.gantry_id == "GANTRY0502"]
    assert len(apache_user) == 1 and len(shared) == 1, [ln.raw for ln in apache_user + shared]
    assert "daemon group 'a' runs as Apache's own User (www-data, uid 33)" in apache_user[0].message
    assert "daemon groups 'b' and 'c' run as the same user (nobody, uid 65534)" in shared[0].message
    assert apache_user[0].level == shared[0].level == "warn"


@pytest.mark.log_ids("GANTRY0500", "GANTRY0206")
def test_a_tenant_cannot_run_code_in_another_group(apache):
    assert apache.get_json("/b/info")["uid"] == 65534
    offset = apache.log_size()
    result = probe(apache, socket_of(apache, 2), tries=3)
    # The tenant found a secret in its own memory: its own group's, in its request's HELLO.
    assert result["candidates"] >= 1, result
    assert result["uid"] == 33
    for attempt in result["attempts"]:
        assert "PWNED" not in attempt["reply"], attempt
        assert attempt["reply"] == "", attempt  # closed without a word
    assert not list(apache.state.glob("pwned-*"))
    line = apache.wait_for_line(lambda ln: bool(refusals(apache, offset, "b", result["pid"])) and True,
                                since=offset, what="GANTRY0500 from b naming a's pid")
    found = refusals(apache, offset, "b", result["pid"])
    assert len(found) == 1, [ln.raw for ln in found]  # once per peer, however often it tries
    assert "session" in found[0].message, found[0].raw  # told apart as a daemon process
    assert "uid 33" in found[0].message, found[0].raw
    # b still serves Apache's children.
    assert apache.get_json("/b/info")["uid"] == 65534


@pytest.mark.log_ids("GANTRY0500")
def test_a_daemon_process_is_refused_by_its_own_group(apache):
    offset = apache.log_size()
    result = probe(apache, socket_of(apache, 1))
    assert result["candidates"] >= 1, result
    for attempt in result["attempts"]:
        assert "PWNED" not in attempt["reply"], attempt
    assert not list(apache.state.glob("pwned-*"))
    apache.wait_for_line(lambda ln: bool(refusals(apache, offset, "a", result["pid"])),
                         since=offset, what="GANTRY0500 from a naming its own pid")
    assert apache.get_json("/a/info")["group"] == "a"


# ---- What root finds in the daemons' memory -------------------------------------------

HELLO = re.compile(re.escape(b"\x01\x00\x00\x00\x2c\x00\x00\x00GANTRY\r\n") + b"..\x00\x00(.{32})", re.S)


def memory_of(pid: int) -> list[bytes]:
    """The writable mappings of `pid`, read as root."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("rw") or end - start > (1 << 30):
                continue
            try:
                mem.seek(start)
                chunks.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                continue
    return chunks


def secrets_in(pid: int) -> set[bytes]:
    """What root finds of a secret in `pid`: HELLO frames, and the launch message it was
    started from (the secret precedes the length-prefixed path of mod_gantry_python.so)."""
    python_object = str(harness.gantry_module_path().parent / "mod_gantry_python.so").encode()
    launch = re.compile(b"(.{32})" + re.escape(struct.pack("<I", len(python_object)) + python_object), re.S)
    found = set()
    for chunk in memory_of(pid):
        found.update(m.group(1) for pattern in (HELLO, launch) for m in pattern.finditer(chunk))
    return found - {b"\0" * 32}


def holds(pid: int, secret: bytes) -> bool:
    return any(secret in chunk for chunk in memory_of(pid))


def group_pid(apache, group: str) -> int:
    return apache.get_json(f"/{group}/info")["pid"]


def spawner_pid(apache) -> int:
    return int(re.findall(r"GANTRY0088: daemon spawner started \(pid (\d+)\)", apache.log_text())[-1])


def check_secrets_apart(apache) -> tuple[int, int]:
    a, b = group_pid(apache, "a"), group_pid(apache, "b")
    # Each has just received a HELLO: its own group's secret.
    secrets_a, secrets_b = secrets_in(a), secrets_in(b)
    assert len(secrets_a) == 1 and len(secrets_b) == 1, (secrets_a, secrets_b)
    (sa,), (sb,) = secrets_a, secrets_b
    assert sa != sb, "the groups share one secret"
    assert not holds(a, sb), "group a's daemon holds group b's secret"
    assert not holds(b, sa), "group b's daemon holds group a's secret"
    spawner = spawner_pid(apache)
    assert not holds(spawner, sa) and not holds(spawner, sb), "the spawner holds a secret"
    return a, b


def test_no_daemon_holds_another_groups_secret(apache):
    check_secrets_apart(apache)


@pytest.mark.log_ids("GANTRY0081", "GANTRY0065")
def test_a_spawner_started_again_passes_on_no_other_groups_secret(apache):
    """The second spawner is forked from Apache's parent, which holds every group's secret;
    it wipes them before it starts anything."""
    old_spawner = spawner_pid(apache)
    offset = apache.log_size()
    os.kill(old_spawner, signal.SIGKILL)
    apache.wait_for_line(lambda ln: ln.gantry_id == "GANTRY0088", since=offset, timeout=15,
                         what="a new spawner (GANTRY0088)")
    assert spawner_pid(apache) != old_spawner
    old_a = group_pid(apache, "a")
    os.kill(old_a, signal.SIGKILL)  # replaced by a daemon from the new spawner
    deadline = time.monotonic() + 30
    while True:
        try:
            if group_pid(apache, "a") != old_a:
                break
        except (AssertionError, OSError):
            pass
        assert time.monotonic() < deadline, "group a was not replaced"
        time.sleep(0.1)
    a, _ = check_secrets_apart(apache)
    assert a != old_a
