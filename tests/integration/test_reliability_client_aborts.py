"""Reliability checklist R14: clients that hang up mid-upload and mid-download, many times
over, embedded (/emb) and in a daemon group (/dmn). Each time the application's
wsgi.input.read() or write() raises OSError; afterwards the daemon process has the
descriptors and threads it had before, and so has every Apache child that was there before
(no descriptor kept per aborted request); no child crashes (the harness checks the log).

Scaled from the checklist's 1,000 aborts to 25 of each kind per mode: a leak of one
descriptor per abort shows the same at 25 as at 1,000."""
import json
import os
import socket
import time
import uuid

import pytest

import apache_children
import daemon_procs
import harness

CONFIG = """
WSGIDaemonProcess aborts processes=1 threads=4 display-name=%{GROUP}
WSGIScriptAlias /emb @APPS@/reliability.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dmn @APPS@/reliability.wsgi process-group=aborts application-group=%{GLOBAL}
SetEnv GANTRY_STATE @STATE@
"""
apache = harness.server(CONFIG)

ABORTS = 25
DECLARED = 1_000_000   # the upload's Content-Length
SENT = 20_000          # what it sends before hanging up
DOWNLOAD_MB = 64       # far more than the socket buffers hold
READ_BEFORE_ABORT = 256 * 1024


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def abort_upload(apache, prefix, tag):
    with socket.create_connection(("127.0.0.1", apache.port), timeout=10) as s:
        s.sendall(f"POST {prefix}/body?tag={tag} HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: {DECLARED}\r\n\r\n".encode() + b"u" * SENT)


def abort_download(apache, prefix, tag):
    s = socket.create_connection(("127.0.0.1", apache.port), timeout=10)
    s.sendall(f"GET {prefix}/download?tag={tag}&mb={DOWNLOAD_MB} HTTP/1.1\r\n"
              "Host: x\r\n\r\n".encode())
    got = 0
    while got < READ_BEFORE_ABORT:
        data = s.recv(65536)
        assert data, "the download ended early"
        got += len(data)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST: the server's next write fails


def outcome(apache, name, timeout=harness.REQUEST_TIMEOUT):
    path = apache.state / name
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"the application never wrote {name}"
        time.sleep(0.02)
    while True:  # written by another process: wait until it is whole
        try:
            return json.loads(path.read_text())
        except ValueError:
            assert time.monotonic() < deadline, f"{name} never became valid JSON"
            time.sleep(0.02)


def wait_back_to(counts_now, baseline, what, timeout=harness.REQUEST_TIMEOUT):
    """Waits until every process in `baseline` that still runs is back to its figure."""
    deadline = time.monotonic() + timeout
    while True:
        now = {pid: counts_now(pid) for pid in baseline if daemon_procs.cmdline(pid)}
        over = {pid: (baseline[pid], n) for pid, n in now.items() if n > baseline[pid]}
        if not over:
            return
        assert time.monotonic() < deadline, f"{what} not back to baseline: {over} " + \
            "; ".join(f"{pid} ({daemon_procs.cmdline(pid)}): {what_is_open(pid)}" for pid in over)
        time.sleep(0.05)


def what_is_open(pid: int) -> list[str]:
    """What a process's descriptors point at, for the message of a failed check."""
    names = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            names.append(f"{fd}={os.readlink(f'/proc/{pid}/fd/{fd}')}")
        except OSError:
            pass
    return names


@pytest.mark.log_ids(*harness.ids("client_gone"), "GANTRY0078")
def test_repeated_client_aborts_raise_oserror_and_leak_nothing(apache):
    daemon = apache.get_json("/dmn/info")["pid"]
    apache.get_json("/emb/info")
    children = apache_children.mpm_children(apache)
    fd_base = {pid: descriptors(pid) for pid in children + [daemon]}
    thread_base = {daemon: threads(daemon)}
    tags = []
    for prefix in ("/emb", "/dmn"):
        for _ in range(ABORTS):
            up, down = uuid.uuid4().hex, uuid.uuid4().hex
            abort_upload(apache, prefix, up)
            abort_download(apache, prefix, down)
            tags += [(prefix, "body-" + up), (prefix, "download-" + down)]
    for prefix, name in tags:
        got = outcome(apache, name)
        assert got.get("is_oserror"), (prefix, name, got)
        if name.startswith("download-"):
            assert READ_BEFORE_ABORT <= got["written"] < DOWNLOAD_MB * 1024 * 1024, got
    wait_back_to(descriptors, fd_base, "descriptors")
    wait_back_to(threads, thread_base, "daemon threads")
    assert apache.get_json("/dmn/info")["pid"] == daemon
    assert apache.get_json("/emb/info")["pid"] in apache_children.mpm_children(apache)
