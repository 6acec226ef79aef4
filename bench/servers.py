"""The benchmarked servers: one Apache httpd each (plus uWSGI for the outside reference),
each in its own temporary ServerRoot on 127.0.0.1.

Every config is the same template - event MPM with a fixed pool of 2 children x 64 threads,
KeepAlive on, no access log, LogLevel warn, sendfile on - and differs only in what runs
the application:

  static            no WSGI module: Apache serves the bodies as files (the ceiling, and the
                    no-WSGI baseline for memory)
  mod_wsgi-daemon   Debian's mod_wsgi, WSGIDaemonProcess bench processes=2 threads=15,
                    WSGIRestrictEmbedded On
  mod_wsgi-embedded Debian's mod_wsgi, the app inside the Apache children
  gantry-daemon     mod_gantry.so, same lines as mod_wsgi-daemon
  gantry-embedded   mod_gantry.so, same lines as mod_wsgi-embedded
  uwsgi             mod_proxy_uwsgi in front of uWSGI (2 processes x 15 threads, unix socket)

Apache runs as `apache2 -f CONF -DFOREGROUND` and uWSGI in the foreground, both children of
this process in their own session, so the bench stops exactly the pids it started.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import procs

APACHE_BIN = "/usr/sbin/apache2"
UWSGI_BIN = "/usr/bin/uwsgi"
MODS = Path("/usr/lib/apache2/modules")
MOD_WSGI_SO = MODS / "mod_wsgi.so"
BENCH_DIR = Path(__file__).resolve().parent

DAEMON_PROCESSES = 2
DAEMON_THREADS = 15
APACHE_CHILDREN = 2
# Each child can hold the largest wrk connection count (64) alone: the kernel does not
# spread connections evenly over the children, and a child whose workers are all busy
# closes kept-alive connections, which wrk counts as read errors.
APACHE_THREADS = 64

SERVERS = ["static", "mod_wsgi-daemon", "mod_wsgi-embedded", "gantry-daemon",
           "gantry-embedded", "uwsgi"]

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

HELLO = b"Hello world\n"
ONE_MIB = 1 << 20


class ServerError(RuntimeError):
    """A server did not start or stop; the message carries its log lines."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mpm_lines() -> str:
    # ServerLimit x ThreadsPerChild == MaxRequestWorkers and MaxSpareThreads covers the
    # whole pool: the two children started at boot are the only ones, none is spawned or
    # retired during a run (that would show up as CPU time and latency of the MPM). A low
    # MinSpareThreads: with 64 busy connections the MPM must not want (and log about) a
    # third child it is not allowed to start.
    workers = APACHE_CHILDREN * APACHE_THREADS
    return f"""LoadModule mpm_event_module {MODS}/mod_mpm_event.so
StartServers {APACHE_CHILDREN}
ServerLimit {APACHE_CHILDREN}
ThreadLimit {APACHE_THREADS}
ThreadsPerChild {APACHE_THREADS}
MaxRequestWorkers {workers}
MinSpareThreads 8
MaxSpareThreads {workers}
MaxConnectionsPerChild 0"""


class Server:
    def __init__(self, name: str, gantry_so: Path, keep: bool = False):
        if name not in SERVERS:
            raise ValueError(f"unknown server {name!r}; known: {', '.join(SERVERS)}")
        self.name = name
        self.gantry_so = gantry_so
        self.keep = keep
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"gantry-bench-{name}-"))
        os.chmod(self.root, 0o755)
        self.error_log = self.root / "logs" / "error.log"
        self.stdio_log = self.root / "logs" / "stdio.log"
        self.uwsgi_log = self.root / "logs" / "uwsgi.log"
        self.uwsgi_socket = self.root / "run" / "uwsgi.sock"
        self.apache: subprocess.Popen | None = None
        self.uwsgi: subprocess.Popen | None = None
        # pid -> start time of every process seen, to stop and to check they are gone.
        self.seen: dict[int, int] = {}
        self._populate()

    # -- layout and configuration ----------------------------------------------------------

    @property
    def is_wsgi(self) -> bool:
        return self.name != "static"

    @property
    def is_daemon(self) -> bool:
        return self.name.endswith("-daemon")

    @property
    def app_threads(self) -> int:
        """Threads that can run the application at once (for the sleep workload's ideal)."""
        if self.name.endswith("-embedded"):
            return APACHE_CHILDREN * APACHE_THREADS
        return DAEMON_PROCESSES * DAEMON_THREADS

    def _populate(self) -> None:
        for d in ("logs", "run", "htdocs", "static", "app/static"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        body = b"x" * ONE_MIB
        for d in (self.root / "static", self.root / "app" / "static"):
            (d / "hello.txt").write_bytes(HELLO)
            (d / "1mib.bin").write_bytes(body)
        shutil.copy(BENCH_DIR / "app.wsgi", self.root / "app" / "app.wsgi")
        (self.root / "mime.types").write_text("text/plain txt\napplication/octet-stream bin\n")
        for p in [self.root] + list(self.root.rglob("*")):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        # Daemon sockets (mod_wsgi's default WSGISocketPrefix is logs/) and uWSGI's socket.
        os.chmod(self.root / "run", 0o777)
        (self.root / "httpd.conf").write_text(self.config())

    def module_lines(self) -> str:
        """The lines that make this server what it is; the rest of the config is shared."""
        r = self.root
        app = r / "app" / "app.wsgi"
        if self.name == "static":
            return "# no WSGI module: /app is not served"
        if self.name == "uwsgi":
            return (f"LoadModule proxy_module {MODS}/mod_proxy.so\n"
                    f"LoadModule proxy_uwsgi_module {MODS}/mod_proxy_uwsgi.so\n"
                    f"ProxyPass /app unix:{self.uwsgi_socket}|uwsgi://bench/")
        so = MOD_WSGI_SO if self.name.startswith("mod_wsgi") else self.gantry_so
        # "sendfile on" for wsgi.file_wrapper too: WSGIEnableSendfile is Off by default (as
        # EnableSendfile), for both modules. (mod_wsgi's daemon mode cannot use it.)
        lines = [f"LoadModule wsgi_module {so}", "WSGIEnableSendfile On"]
        if self.name.startswith("mod_wsgi"):
            # mod_wsgi 4.9 on Python >= 3.9 can hang destroying interpreters at child exit
            # (its documented workaround; the integration harness does the same).
            lines.append("WSGIDestroyInterpreter Off")
        if self.is_daemon:
            lines += [f"WSGIDaemonProcess bench processes={DAEMON_PROCESSES} "
                      f"threads={DAEMON_THREADS}",
                      "WSGIRestrictEmbedded On",
                      # Both groups named: the script is preloaded at process start.
                      f"WSGIScriptAlias /app {app} process-group=bench "
                      "application-group=%{GLOBAL}"]
        else:
            lines += ["WSGIScriptAlias /app " f"{app} process-group=%{{GLOBAL}} "
                      "application-group=%{GLOBAL}"]
        return "\n".join(lines)

    def config(self) -> str:
        r = self.root
        user = "User www-data\nGroup www-data" if os.geteuid() == 0 else "# not root: no User"
        return f"""# Generated by bench/servers.py ({self.name})
ServerRoot {r}
DefaultRuntimeDir {r}/run
PidFile {r}/run/httpd.pid
Mutex file:{r}/run default
Listen 127.0.0.1:{self.port}
ServerName 127.0.0.1
{user}
ErrorLog {self.error_log}
LogLevel warn
{_mpm_lines()}
Timeout 60
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 0
EnableSendfile On
GracefulShutdownTimeout 5
TypesConfig {r}/mime.types
LoadModule authz_core_module {MODS}/mod_authz_core.so
LoadModule mime_module {MODS}/mod_mime.so
LoadModule alias_module {MODS}/mod_alias.so
DocumentRoot {r}/htdocs
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory {r}/static>
  Require all granted
</Directory>
# mod_wsgi (and Gantry) look PATH_INFO up as a sub-request for PATH_TRANSLATED: let it
# resolve instead of logging an authz error per request.
<Directory {r}/htdocs>
  Require all granted
</Directory>
<Directory {r}/app>
  Require all granted
</Directory>
<Location /app>
  Require all granted
</Location>
Alias /static {r}/static
{self.module_lines()}
"""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.name == "uwsgi":
            self._start_uwsgi()
        stdio = open(self.stdio_log, "ab")
        try:
            self.apache = subprocess.Popen(
                [APACHE_BIN, "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
                stdin=subprocess.DEVNULL, stdout=stdio, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            stdio.close()
        self._remember(self.apache.pid)
        self._wait_ready()

    def _start_uwsgi(self) -> None:
        args = [UWSGI_BIN, "--plugin", "python3", "--master",
                "--processes", str(DAEMON_PROCESSES), "--threads", str(DAEMON_THREADS),
                "--socket", str(self.uwsgi_socket), "--chmod-socket=666",
                "--wsgi-file", str(self.root / "app" / "app.wsgi"),
                "--need-app", "--disable-logging", "--die-on-term",
                "--chdir", str(self.root / "app")]
        if os.geteuid() == 0:
            args += ["--uid", "www-data", "--gid", "www-data"]
        log = open(self.uwsgi_log, "ab")
        try:
            self.uwsgi = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self._remember(self.uwsgi.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.uwsgi.poll() is not None:
                raise ServerError(f"uwsgi exited with {self.uwsgi.returncode} at startup:\n"
                                  + self.tail(self.uwsgi_log))
            workers = procs.descendants(self.uwsgi.pid)
            if self.uwsgi_socket.exists() and len(workers) >= DAEMON_PROCESSES:
                break
            if time.monotonic() > deadline:
                raise ServerError("uwsgi did not come up in time:\n" + self.tail(self.uwsgi_log))
            time.sleep(0.05)

    def _wait_ready(self) -> None:
        """Until Apache listens and all its children (and daemon processes) exist."""
        want = APACHE_CHILDREN + (DAEMON_PROCESSES if self.is_daemon else 0)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.apache.poll() is not None:
                raise ServerError(f"apache2 exited with {self.apache.returncode} at startup:\n"
                                  + self.logs())
            kids = procs.descendants(self.apache.pid)
            for pid in kids:
                self._remember(pid)
            if len(kids) >= want and self._listening():
                return
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name} not ready after {START_TIMEOUT}s "
                                  f"({len(kids)} of {want} processes):\n" + self.logs())
            time.sleep(0.05)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _remember(self, pid: int) -> None:
        start = procs.start_time(pid)
        if start is not None:
            self.seen.setdefault(pid, start)

    def roots(self) -> list[int]:
        return [p.pid for p in (self.apache, self.uwsgi) if p is not None]

    def cpu_seconds(self) -> float:
        return procs.tree_cpu_seconds(self.roots())

    def processes(self) -> dict[str, list[int]]:
        """The live processes by role: the Apache parent, its worker children, the WSGI
        daemon processes (mod_wsgi/Gantry: children of the Apache parent that do not hold
        the listening socket; Gantry's spawner, which starts them, and each group's template, which
        forks them, are roles of their own) and
        uWSGI's master and workers."""
        roles: dict[str, list[int]] = {"parent": [], "children": [], "daemons": [],
                                       "spawner": [], "template": [], "uwsgi_master": [], "uwsgi_workers": []}
        if self.apache is not None and self.apache.poll() is None:
            roles["parent"].append(self.apache.pid)
            listen = procs.listening_socket_inodes(self.port)
            for pid in procs.descendants(self.apache.pid):
                self._remember(pid)
                if procs.holds_socket(pid, listen):
                    roles["children"].append(pid)
                elif procs.cmdline(pid) == "(gantry-spawner)":  # docs/spawner.md
                    roles["spawner"].append(pid)
                elif procs.cmdline(pid).endswith(") template"):  # docs/template.md
                    roles["template"].append(pid)
                else:
                    roles["daemons"].append(pid)
        if self.uwsgi is not None and self.uwsgi.poll() is None:
            roles["uwsgi_master"].append(self.uwsgi.pid)
            for pid in procs.descendants(self.uwsgi.pid):
                self._remember(pid)
                roles["uwsgi_workers"].append(pid)
        return roles

    def stop(self) -> list[str]:
        """SIGTERM Apache and uWSGI by pid (SIGKILL after a bound); returns problems (a
        process that needed SIGKILL or outlived its parent)."""
        problems = []
        for pid in procs.descendants(self.apache.pid) if self.apache else []:
            self._remember(pid)
        for label, proc in (("apache2", self.apache), ("uwsgi", self.uwsgi)):
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"{label} (pid {proc.pid}) ignored SIGTERM for "
                                f"{STOP_TIMEOUT}s; killed")
                self._kill(proc.pid)
                proc.wait(5)
        deadline = time.monotonic() + 5
        while True:
            alive = [pid for pid, st in self.seen.items() if procs.start_time(pid) == st]
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for pid in alive:
            problems.append(f"pid {pid} outlived its parent; killed")
            self._kill(pid)
        return problems

    @staticmethod
    def _kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def kill_all(self) -> None:
        """Last resort (Ctrl-C, a crash in the bench): SIGKILL every pid this server had."""
        for proc in (self.apache, self.uwsgi):
            if proc is not None and proc.poll() is None:
                self._remember(proc.pid)
                for pid in procs.descendants(proc.pid):
                    self._remember(pid)
        for pid, st in self.seen.items():
            if procs.start_time(pid) == st:
                self._kill(pid)
        for proc in (self.apache, self.uwsgi):
            if proc is not None:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- logs ------------------------------------------------------------------------------

    @staticmethod
    def tail(path: Path, lines: int = 40) -> str:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return f"({path} missing)"
        return "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        out = f"--- {self.error_log} ---\n{self.tail(self.error_log)}"
        out += f"\n--- {self.stdio_log} ---\n{self.tail(self.stdio_log)}"
        if self.name == "uwsgi":
            out += f"\n--- {self.uwsgi_log} ---\n{self.tail(self.uwsgi_log)}"
        return out

    def wait_log_quiet(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Until the error log has not grown for `quiet` seconds: the server logs client
        aborts a moment after wrk returns, and they belong to the workload that caused them."""
        deadline = time.monotonic() + timeout
        size = self.log_size()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.log_size()
            if now == size:
                return
            size = now

    def log_size(self) -> int:
        try:
            return self.error_log.stat().st_size
        except OSError:
            return 0

    def error_lines(self, start: int = 0, end: int | None = None) -> list[str]:
        """Error-level (or worse) lines and crash markers in the Apache error log between
        byte offsets `start` and `end`."""
        try:
            with open(self.error_log, "rb") as f:
                f.seek(start)
                raw = f.read() if end is None else f.read(max(0, end - start))
        except OSError:
            return []
        bad = (":error]", ":crit]", ":alert]", ":emerg]", "Segmentation fault",
               "exit signal", "Fatal Python error")
        return [line for line in raw.decode("utf-8", "replace").splitlines()
                if any(b in line for b in bad)]
