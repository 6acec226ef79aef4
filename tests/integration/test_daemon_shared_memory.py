"""Shared memory and a hostile tenant (issue 12, docs/shared-memory.md).

A daemon process maps only its own slot's page of the memory it shares with Apache's
parent: not the status table, not another slot's or group's page, and it keeps no
descriptor through which it could map more. An application that writes all ones over
everything it can reach harms its own slot at most, and the parent logs nothing absurd
about any group: before the fix, group a's scribble made the parent report group b's
process dying with an RSS of 17592186044416 MiB."""
import os
import re
import signal

import pytest

import harness

pytestmark = pytest.mark.gantry_only

CONFIG = """
WSGIDaemonProcess tenanta processes=2 threads=2 maximum-requests=1000 display-name=%{GROUP}
WSGIDaemonProcess tenantb processes=2 threads=2 maximum-requests=1000 display-name=%{GROUP}
WSGIScriptAlias /a @APPS@/hostile_shm.wsgi process-group=tenanta application-group=%{GLOBAL}
WSGIScriptAlias /b @APPS@/hostile_shm.wsgi process-group=tenantb application-group=%{GLOBAL}
"""
apache = harness.server(CONFIG)

DIED = ("GANTRY0065", "GANTRY0072")
# Larger than any RSS this machine can have: what a scribbled page would claim.
PHYSICAL_MIB = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def get_json(apache, path):
    r = apache.get(path)
    assert r.status == 200, (path, r.status, r.text)
    return r.json()


def death_line(apache, offset, group, pid):
    return apache.wait_for_line(
        lambda ln: ln.gantry_id == "GANTRY0065" and f"'{group}'" in ln.message
        and f"pid {pid}" in ln.message,
        since=offset, timeout=15, what=f"GANTRY0065 for {group} pid {pid}")


def assert_sane(line):
    for mib in re.findall(r"RSS ([0-9.]+) MiB", line.message):
        assert float(mib) < PHYSICAL_MIB, line.raw


def test_a_daemon_maps_its_own_slot_page_and_nothing_else(apache):
    scan = get_json(apache, "/a/scan")
    assert scan["fds"] == [], scan  # no descriptor to map anything again
    names = {m["name"] for m in scan["mappings"]}
    assert not any("table" in n for n in names), scan
    assert len(scan["mappings"]) <= 1, scan
    for m in scan["mappings"]:
        assert m["size"] == scan["page"], scan  # one slot's page, not every slot's


@pytest.mark.log_ids(*DIED)
def test_a_tenant_scribbling_on_shared_memory_harms_no_other_group(apache):
    b_pid = get_json(apache, "/b/info")["pid"]
    offset = apache.log_size()
    hit = get_json(apache, "/a/scribble")
    a_pid = hit["pid"]
    assert hit["reopened"] == 0, hit

    # Group b's process dies of a signal: the parent must name it with b's own RSS (or
    # none), not with anything group a wrote.
    os.kill(b_pid, signal.SIGKILL)
    line = death_line(apache, offset, "tenantb", b_pid)
    assert "killed by SIGKILL" in line.message, line.raw
    assert_sane(line)

    # Group a's own process, whose page is all ones: still decoded from what the kernel
    # says, and the slot recovers.
    os.kill(a_pid, signal.SIGKILL)
    line = death_line(apache, offset, "tenanta", a_pid)
    assert "killed by SIGKILL" in line.message, line.raw
    assert_sane(line)

    for prefix in ("/a", "/b"):
        assert get_json(apache, f"{prefix}/info")["pid"] > 0
    for ln in apache.log_lines(since=offset):
        assert_sane(ln)
        # A crash of group b is logged only for the pid the test killed.
        if ln.gantry_id == "GANTRY0065" and "'tenantb'" in ln.message:
            assert f"pid {b_pid}" in ln.message, ln.raw
