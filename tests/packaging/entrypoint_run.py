"""docker/entrypoint.sh run the way a container runs it, but inside a rootfs.Sandbox on the
root where docker/image-setup.sh ran (the image's steps in a chroot): its own network, /run,
logs and generated config, the app directory bind-mounted at /srv/app."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import rootfs

APPS = Path(__file__).resolve().parent / "apps"
PRIVATE = ["/run", "/etc/gantry-container", "/var/log/apache2"]


class EntrypointRun:
    def __init__(self, root: rootfs.Root, env: dict[str, str], name: str = "gantry"):
        self.state = Path(tempfile.mkdtemp(prefix=f"gantry-state-{name}-", dir="/var/tmp"))
        self.state.chmod(0o777)  # the app (www-data) marks in-flight requests here
        self.box = rootfs.Sandbox(root, binds=[(APPS, "/srv/app"), (self.state, "/srv/state")],
                                  tmpfs=PRIVATE)
        # Append mode: Apache reopens them as /proc/self/fd/1 and 2 (its own file offsets).
        self.out = open(self.state.with_suffix(".stdout"), "a+")
        self.err = open(self.state.with_suffix(".stderr"), "a+")
        assignments = " ".join(f"{k}='{v}'" for k, v in env.items())
        # `echo $$` first: the entrypoint's pid inside the namespace, for SIGTERM by pid.
        self.proc = self.box.popen(f"echo $$ >&2; exec env {assignments} /usr/local/bin/gantry-entrypoint",
                                   stdout=self.out, stderr=self.err)
        self.pid = int(rootfs.wait_for(self._first_stderr_line, 30, "the entrypoint's pid"))

    def _first_stderr_line(self):
        self.err.seek(0)
        line = self.err.readline()
        return line.strip() if line.endswith("\n") else None

    def stdout(self) -> str:
        self.out.seek(0)
        return self.out.read()

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read()

    def curl(self, url: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.box.run(f"curl -s -m {int(timeout)} -o /dev/stdout -w '\\n%{{http_code}}' '{url}'",
                            check=False, timeout=timeout + 10)

    def get(self, url: str) -> tuple[str, str] | None:
        r = self.curl(url)
        if r.returncode != 0:
            return None
        body, _, status = r.stdout.rpartition("\n")
        return status, body

    def sigterm(self) -> None:
        self.box.run(f"kill -TERM {self.pid}")

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        self.box.close()  # ends every process of the namespace, the entrypoint's first
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)
        self.out.close()
        self.err.close()
        for f in (self.state.with_suffix(".stdout"), self.state.with_suffix(".stderr")):
            f.unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(self.state)], check=False)
