"""Runs bin/gantry-express for the tests: a launcher process with its output captured, the
server it started reachable by URL, and a check that stopping it leaves no process behind.
Every process is tracked by pid (with its start time, against pid reuse) and stopped by pid."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import harness

LAUNCHER = harness.REPO_ROOT / "bin" / "gantry-express"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 40.0

# A WSGI app that reports what the tests look at. @VERSION@ is replaced per test.
APP = '''
import json, os, sys
import mod_wsgi
try:
    from helper import VERSION as HELPER
except ImportError:
    HELPER = None

VERSION = "@VERSION@"
_KEPT = []  # ?alloc=MB memory stays allocated: resident memory grows for good

def application(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query.startswith("alloc="):
        block = bytearray(int(query[6:]) * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        _KEPT.append(block)
    body = json.dumps({
        "pid": os.getpid(), "uid": os.getuid(),
        "group": environ.get("mod_wsgi.process_group"),
        "threads": mod_wsgi.threads_per_process,
        "processes": mod_wsgi.maximum_processes,
        "sys_path": sys.path, "cwd": os.getcwd(), "prefix": sys.prefix,
        "version": VERSION, "helper": HELPER, "path": environ.get("PATH_INFO"),
        "server_name": environ.get("SERVER_NAME"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def make_dir(prefix: str) -> Path:
    """A temporary directory every user can read (the daemon user reads apps from it)."""
    d = Path(tempfile.mkdtemp(prefix=f"gantry-it-express-{prefix}-"))
    os.chmod(d, 0o755)
    return d


def write_app(directory: Path, version: str = "1", name: str = "app.wsgi") -> Path:
    path = directory / name
    path.write_text(APP.replace("@VERSION@", version))
    os.chmod(path, 0o644)
    return path


def launcher_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["GANTRY_MODULES_DIR"] = str(harness.gantry_module_path().parent)
    env.pop("VIRTUAL_ENV", None)
    env.update(extra)
    return env


def account_args() -> list[str]:
    return ["--user", "www-data", "--group", "www-data"] if os.geteuid() == 0 else []


def run_launcher(args: list[str], env: dict[str, str] | None = None,
                 timeout: float = 120.0, launcher: Path = LAUNCHER) -> subprocess.CompletedProcess:
    """gantry-express ARGS to completion (setup-server, or a start-server that must fail)."""
    return subprocess.run([str(launcher)] + args, env=env or launcher_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


class PortTaken(Exception):
    pass


class Express:
    """`gantry-express start-server ARGS` in the background."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None,
                 temporary_root: bool = False, allowed_ids: tuple[str, ...] = ()):
        self.out_dir = make_dir("out")
        self.base_args = ["start-server"] + args
        if not temporary_root:  # kept until cleanup(), so the error log can be checked
            self.base_args += ["--server-root", str(self.out_dir / "root")]
        self.allowed_ids = set(allowed_ids)
        self.env = env or launcher_env()
        self.stdout = self.out_dir / "stdout"
        self.stderr = self.out_dir / "stderr"
        self.proc: subprocess.Popen | None = None
        self.tracked: dict[int, int] = {}
        self.server_root: Path | None = None
        self.conf_text = ""

    def start(self) -> "Express":
        # Other test runs on the machine pick ephemeral ports too: retry when one is taken
        # between free_port() and the launcher's own check.
        for attempt in range(3):
            try:
                return self._start()
            except PortTaken:
                if attempt == 2:
                    raise AssertionError(f"no free port:\n{self.errors()}") from None

    def _start(self) -> "Express":
        self.port = harness.free_port()
        self.args = self.base_args + ["--port", str(self.port)]
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            # A session of its own: the test signals exactly this launcher.
            self.proc = subprocess.Popen([str(LAUNCHER)] + self.args, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = re.search(r"gantry-express: server root (\S+), configuration (\S+)",
                          self.output())
            if "Ctrl-C stops it" in self.output() and m:
                self.server_root = Path(m.group(1))
                self.conf_text = Path(m.group(2)).read_text()
                self.track()
                return self
            if self.proc.poll() is not None:
                if "GANTRY0646" in self.errors():
                    raise PortTaken()
                raise AssertionError(f"gantry-express exited with {self.proc.returncode}:\n"
                                     f"{self.output()}\n{self.errors()}")
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"gantry-express did not start:\n{self.output()}\n{self.errors()}")

    def output(self) -> str:
        return self.stdout.read_text(errors="replace")

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")

    def error_log(self) -> str:
        path = self.server_root / "error_log"
        return path.read_text(errors="replace") if path.exists() else self.errors()

    def track(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.tracked.update(harness._children_of(self.proc.pid))

    def daemon_pids(self) -> list[int]:
        """The serving daemon processes, named (wsgi:HOST:PORT) by display-name=%{GROUP}."""
        import daemon_procs
        tag = f"(wsgi:127.0.0.1:{self.port})"
        return [pid for pid in harness._children_of(self.proc.pid)
                if daemon_procs.cmdline(pid) == tag]

    def wait_daemons(self, count: int, timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            pids = self.daemon_pids()
            self.track()
            if len(pids) == count or time.monotonic() > deadline:
                return pids
            time.sleep(0.05)

    def request(self, path: str, host: str | None = None) -> harness.Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Host": host} if host else {})
            r = conn.getresponse()
            return harness.Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def get_json(self, path: str = "/") -> dict:
        r = self.request(path)
        assert r.status == 200, (path, r.status, r.text, self.error_log()[-3000:])
        self.track()
        return json.loads(r.body)

    def interrupt(self, sig: int = signal.SIGINT) -> int:
        """Sends `sig` to the launcher's process group, as a terminal's Ctrl-C does; returns
        the launcher's exit status once it and every process it had are gone (the test fails
        if any outlives STOP_TIMEOUT)."""
        self.track()
        os.killpg(self.proc.pid, sig)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"gantry-express ignored signal {sig}:\n{self.errors()}")
        leftovers = wait_gone(self.tracked, 10.0)
        if leftovers:
            kill_pids(leftovers)
            raise AssertionError(f"processes left after gantry-express stopped: {leftovers}")
        problems = harness.log_problems(self.error_log(), self.allowed_ids)
        assert not problems, "crashes or undeclared GANTRY errors:\n" + "\n".join(problems)
        return rc

    def kill(self) -> None:
        if self.proc is None:
            return
        self.track()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        kill_pids(alive(self.tracked))

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.out_dir, ignore_errors=True)

    def __enter__(self) -> "Express":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


def alive(tracked: dict[int, int]) -> list[int]:
    return [pid for pid, start in tracked.items() if harness._proc_start_time(pid) == start]


def wait_gone(tracked: dict[int, int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        left = alive(tracked)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
