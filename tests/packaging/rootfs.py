"""Fresh Debian 12 roots for the packaging tests, built with mmdebstrap from the package
archive this machine uses, and ways to run things inside them without touching the host's
Apache, /etc/apache2 or network:

- base_tarball(): a minimal bookworm root (apt + curl), built once and cached in
  GANTRY_PACKAGING_CACHE (default /var/cache/gantry-packaging) - the slow step (~3 min);
- Root(path): a root extracted from it; root.apt(...) runs apt-get inside with the host's
  network (downloaded .debs are cached too) and a policy-rc.d that keeps maintainer scripts
  from starting services;
- Sandbox(root): a private network namespace (loopback only), pid namespace and mount
  namespace (/proc, /dev) around the root. Everything started inside it dies with it:
  stopping the sandbox's own pid ends the namespace.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SUITE = "bookworm"
MIRRORS = [
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
]
BASE_PACKAGES = ["curl", "ca-certificates"]


def cache_dir() -> Path:
    d = Path(os.environ.get("GANTRY_PACKAGING_CACHE", "/var/cache/gantry-packaging"))
    d.mkdir(parents=True, exist_ok=True)
    (d / "apt-archives" / "partial").mkdir(parents=True, exist_ok=True)
    return d


def base_tarball() -> Path:
    """The cached bookworm root; built under a lock so parallel runs build it once."""
    d = cache_dir()
    name = f"{SUITE}-apt-{'-'.join(sorted(BASE_PACKAGES))}.tar"
    tarball = d / name
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tarball.exists():
            partial = d / f"{name}.{os.getpid()}.partial"
            subprocess.run(["mmdebstrap", "--quiet", "--variant=apt", "--format=tar",
                            "--include=" + ",".join(BASE_PACKAGES), SUITE, str(partial),
                            *MIRRORS], check=True, stdin=subprocess.DEVNULL)
            partial.rename(tarball)
    return tarball


POLICY_RC_D = "#!/bin/sh\n# packaging tests: maintainer scripts start no services here\nexit 101\n"


class Root:
    """A Debian root extracted from the cached tarball into `path` (which must not exist)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.mkdir(parents=True)
        subprocess.run(["tar", "--numeric-owner", "-xf", str(base_tarball()), "-C", str(self.path)],
                       check=True)
        policy = self.path / "usr/sbin/policy-rc.d"
        policy.write_text(POLICY_RC_D)
        policy.chmod(0o755)

    @classmethod
    def existing(cls, path: Path) -> "Root":
        root = cls.__new__(cls)
        root.path = Path(path)
        return root

    def file(self, inside: str) -> Path:
        return self.path / inside.lstrip("/")

    def _in_mount_ns(self, script: str, timeout: float) -> subprocess.CompletedProcess:
        """Runs `script` (sh) in a private mount namespace where the root has /proc, /dev
        and the shared apt cache mounted; the mounts vanish with the namespace."""
        archives = cache_dir() / "apt-archives"
        wrapper = (
            "set -e; r=$0; mount --make-rprivate /;"
            " mount -t proc proc \"$r/proc\"; mount --rbind /dev \"$r/dev\";"
            f" mount --bind '{archives}' \"$r/var/cache/apt/archives\";"
            " cp /etc/resolv.conf \"$r/etc/resolv.conf\" 2>/dev/null || true;"
            " exec chroot \"$r\" /bin/sh -c \"$1\""
        )
        return subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", wrapper,
                               str(self.path), script],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def sh(self, script: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        r = self._in_mount_ns(script, timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"in {self.path}: {script!r} exited {r.returncode}\n"
                                 f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
        return r

    def apt(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        env = "DEBIAN_FRONTEND=noninteractive"
        opts = "-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
        return self.sh(f"{env} apt-get {opts} {' '.join(args)}", timeout=timeout)

    def update(self) -> None:
        self.apt("update")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Sandbox:
    """A pid + network + mount namespace around a Root. `run()` enters it with nsenter and
    chroot; `close()` stops the namespace's first process by its pid, which ends every process
    started inside (the kernel kills a pid namespace with its init)."""

    def __init__(self, root: Root, binds: list[tuple[Path, str]] = (), tmpfs: list[str] = ()):
        """binds: (host directory, path inside) bind mounts; tmpfs: paths inside that get an
        empty private tmpfs (so two sandboxes on one root keep their own /run, logs...)."""
        self.root = root
        mounts = "".join(f" mkdir -p \"$r{inside}\"; mount --bind '{host}' \"$r{inside}\";"
                         for host, inside in binds)
        mounts += "".join(f" mkdir -p \"$r{inside}\"; mount -t tmpfs tmpfs \"$r{inside}\";"
                          for inside in tmpfs)
        holder = (
            "set -e; r=$0; mount --make-rprivate /;"
            " mount -t proc proc \"$r/proc\"; mount --rbind /dev \"$r/dev\";"
            + mounts +
            " ip link set lo up; echo ready; exec sleep infinity"
        )
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "sh", "-c",
             holder, str(root.path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait(timeout=10)
            raise AssertionError(f"sandbox did not start: {self.proc.stderr.read()}")
        self.pid = self._inner_pid()

    def _inner_pid(self) -> int:
        """The `sleep infinity` inside: the namespaces' init, which nsenter targets."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            if children:
                return int(children[0])
            time.sleep(0.05)
        raise AssertionError("sandbox has no init process")

    def command(self, script: str) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "--mount", "--net", "--pid", "--",
                "chroot", str(self.root.path), "/bin/sh", "-c", script]

    def run(self, script: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(self.command(script), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"sandbox: {script!r} exited {r.returncode}\n"
                                 f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
        return r

    def host_command(self, *argv: str) -> list[str]:
        """argv run with the host's programs (ip, haproxy...) in the sandbox's network only."""
        return ["nsenter", "-t", str(self.pid), "--net", "--", *argv]

    def popen(self, script: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.command(script), stdin=subprocess.DEVNULL, **kw)

    def close(self) -> None:
        # unshare --fork ignores SIGTERM while it waits; SIGKILL to the namespace's init (the
        # `sleep` found by _inner_pid) ends every process inside, then unshare exits.
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=60)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
