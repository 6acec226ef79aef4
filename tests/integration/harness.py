"""A real Apache httpd for the integration tests.

Each Apache runs from its own temporary ServerRoot with a generated httpd.conf, listens on an
ephemeral port on 127.0.0.1, and is started as `apache2 -f CONF -DFOREGROUND` so the test run
owns the parent's pid and stops exactly what it started.

The same tests run against Gantry (default) or Debian's real mod_wsgi
(GANTRY_TEST_MODULE=mod_wsgi): both are loaded with `LoadModule wsgi_module ...`, which is the
whole point of a drop-in replacement. Stdlib only: the tests run under Debian's python3.
"""
from __future__ import annotations

import atexit
import contextlib
import dataclasses
import functools
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpd_stop_race

APACHE_BIN = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
MOD_WSGI_SO = APACHE_MODULES / "mod_wsgi.so"
HERE = Path(__file__).resolve().parent
APPS_DIR = HERE / "apps"
REPO_ROOT = HERE.parents[1]

# Which module the tests exercise: "gantry" (default) or "mod_wsgi" (the reference).
MODULE = os.environ.get("GANTRY_TEST_MODULE", "gantry")
if MODULE not in ("gantry", "mod_wsgi"):
    raise RuntimeError(f"GANTRY_TEST_MODULE must be 'gantry' or 'mod_wsgi', not {MODULE!r}")
IS_GANTRY = MODULE == "gantry"

# The MPMs every request-making test runs under (GANTRY_TEST_MPMS=event to narrow it).
MPMS = [m for m in os.environ.get("GANTRY_TEST_MPMS", "event,prefork").split(",") if m]

# Where the apps of harness.server() configs run: "embedded" (in Apache's children) and
# "daemon" (the whole config delegated to DAEMON_CONFIG's group). GANTRY_TEST_MODES=embedded
# narrows it. Files whose configs only make sense embedded opt out with
# `pytestmark = pytest.mark.embedded_only`.
MODES = [m for m in os.environ.get("GANTRY_TEST_MODES", "embedded,daemon").split(",") if m]
DAEMON_GROUP = "gantry-test"
# Server scope, before the test's snippet: a test's own WSGIProcessGroup / process-group=
# still wins for its locations.
DAEMON_CONFIG = f"""WSGIDaemonProcess {DAEMON_GROUP} processes=2 threads=4
WSGIProcessGroup {DAEMON_GROUP}"""

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
REQUEST_TIMEOUT = 20.0


def gantry_module_path() -> Path:
    # Absolute: Apache resolves a relative LoadModule path against its own ServerRoot.
    modules_dir = os.path.abspath(os.environ.get("GANTRY_MODULES_DIR") or str(REPO_ROOT / "build" / "modules"))
    return Path(modules_dir) / "mod_gantry.so"


def module_path(module: str | None = None) -> Path:
    module = module or MODULE
    return MOD_WSGI_SO if module == "mod_wsgi" else gantry_module_path()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------
# Error log parsing

_LOG_LINE = re.compile(
    r"^\[(?P<time>[^\]]*)\] \[(?:(?P<module>[^:\]]*):)?(?P<level>[a-z0-9]+)\] "
    r"\[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\]"
    r"(?: \[client (?P<client>[^\]]*)\])?(?: (?P<message>.*))?$"
)
_GANTRY_ID = re.compile(r"\bGANTRY(\d{4})\b")
LEVELS = ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]


@dataclasses.dataclass
class LogLine:
    raw: str
    level: str = ""
    module: str = ""
    pid: int = 0
    message: str = ""

    @property
    def severity(self) -> int:
        """0 (emerg) .. 7 (debug); trace levels and unparsed lines count as debug+."""
        return LEVELS.index(self.level) if self.level in LEVELS else 8

    @property
    def gantry_id(self) -> str | None:
        m = _GANTRY_ID.search(self.message)
        return f"GANTRY{m.group(1)}" if m else None


def parse_log(text: str) -> list[LogLine]:
    lines = []
    for raw in text.splitlines():
        m = _LOG_LINE.match(raw)
        if m:
            lines.append(LogLine(raw, m.group("level"), m.group("module") or "",
                                 int(m.group("pid")), m.group("message") or ""))
        else:
            lines.append(LogLine(raw, message=raw))
    return lines


# Crashes, children that ignored SIGTERM (Apache escalates with AH00045/AH00046), and
# sanitizer reports that reached the error log instead of their report files.
CRASH_MARKERS = ("Segmentation fault", "exit signal", "Fatal Python error",
                 "still did not exit", "ERROR: AddressSanitizer", "SUMMARY: AddressSanitizer",
                 "SUMMARY: UndefinedBehaviorSanitizer")


# ----------------------------------------------------------------------------------------
# Sanitizer builds (cmake -DGANTRY_SANITIZE=address,undefined; docs/testing.md)
#
# An ASan-built mod_gantry.so cannot simply be loaded by Debian's apache2, which is not
# built with ASan: the runtime must be the first library of the process, so every apache2
# the tests run gets LD_PRELOAD of the runtime the module was linked against. Apache itself
# leaks by design at exit (pools it never frees), so leak detection is off; every other
# report goes to a file per process in the ServerRoot's sanitizer/ directory, and any file
# there fails the test during which it appeared (Apache.problems()).

@functools.lru_cache(maxsize=None)
def sanitizer_runtime(module: Path) -> str | None:
    """The ASan runtime `module` needs preloaded (an -DGANTRY_SANITIZE build), or None."""
    try:
        dynamic = subprocess.run(["readelf", "-d", str(module)], capture_output=True, text=True,
                                 timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\[(libasan\.so[.\d]*)\]", dynamic)
    if not m:
        return None
    for directory in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        candidate = Path(directory) / m.group(1)
        if candidate.exists():
            return str(candidate)
    raise RuntimeError(f"{module} needs {m.group(1)}, which is not installed")


def sanitizer_env(module: Path, report_dir: Path) -> dict[str, str] | None:
    """The environment for an apache2 that loads `module`: os.environ plus, for a sanitizer
    build, the preloaded runtime and options that write every report under `report_dir`."""
    runtime = sanitizer_runtime(module) if module.exists() else None
    if runtime is None:
        return None
    env = dict(os.environ)
    # libstdc++ too: apache2 is C, so libstdc++ would come only with the module, after ASan
    # started, and ASan's exception interceptor (__cxa_throw) would find no real one to call
    # ("CHECK failed: ... real___cxa_throw") at the module's first C++ throw.
    libstdcxx = Path(runtime).parent / "libstdc++.so.6"
    env["LD_PRELOAD"] = f"{runtime}:{libstdcxx}" if libstdcxx.exists() else runtime
    # handle_segv=0: a crashing child still dies of SIGSEGV, with its core and Apache's
    # "exit signal" line, as the crash tests expect.
    env["ASAN_OPTIONS"] = (f"detect_leaks=0:verify_asan_link_order=0:handle_segv=0:"
                           f"log_path={report_dir}/asan")
    env["UBSAN_OPTIONS"] = f"print_stacktrace=1:log_path={report_dir}/ubsan"
    return env


# The parent's line for an MPM child that died of a signal (AH00052 "child pid N exit signal
# Segmentation fault (11)"): the one crash a test may cause on purpose
# (@pytest.mark.allow_child_crash, conftest.py).
CHILD_CRASH = re.compile(r"AH00052: child pid (\d+) exit signal ")


def log_problems(text: str, allowed_ids: set[str],
                 excused: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Lines that fail any test: crashes, and GANTRY ids at error level or above that the
    test did not declare. `excused`: raw lines of child crashes a test caused on purpose
    and counted (conftest's allow_child_crash), not problems."""
    problems = []
    for line in parse_log(text):
        if line.raw in excused:
            continue
        if any(marker in line.raw for marker in CRASH_MARKERS):
            problems.append(line.raw)
            continue
        gid = line.gantry_id
        if gid and line.severity <= LEVELS.index("error") and gid not in allowed_ids:
            problems.append(line.raw)
    return problems


# ----------------------------------------------------------------------------------------
# Processes

def _proc_start_time(pid: int) -> int | None:
    """Start time of `pid` (to tell a pid apart from a later reuse); None if gone/zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _children_of(pid: int) -> dict[int, int]:
    """All live descendants of `pid` -> their start time."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            start = _proc_start_time(child)
            if start is not None and child not in found:
                found[child] = start
                todo.append(child)
    return found


# ----------------------------------------------------------------------------------------
# HTTP

@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json
        return json.loads(self.body)


@dataclasses.dataclass
class RawResponse:
    """What came back on a raw socket, parsed leniently (for malformed/truncated replies)."""
    data: bytes              # everything received
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes              # de-chunked when chunked
    complete: bool           # framing says the body is whole (CL reached / last chunk seen)
    closed: bool             # server closed the connection

    def header(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default


def parse_raw_response(data: bytes, closed: bool, head_request: bool = False) -> RawResponse:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return RawResponse(data, None, [], b"", False, closed)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    hdr = {k.lower(): v for k, v in headers}
    if head_request or status in (204, 304):
        return RawResponse(data, status, headers, b"", True, closed)
    if "chunked" in hdr.get("transfer-encoding", "").lower():
        body, complete = _dechunk(rest)
        return RawResponse(data, status, headers, body, complete, closed)
    if "content-length" in hdr:
        length = int(hdr["content-length"])
        return RawResponse(data, status, headers, rest[:length], len(rest) >= length, closed)
    return RawResponse(data, status, headers, rest, closed, closed)


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    body, end = _dechunk_end(data)
    return body, end is not None


def _dechunk_end(data: bytes) -> tuple[bytes, int | None]:
    """De-chunks `data`; returns the body and the offset just past the chunked body (None
    when it is incomplete). Trailers are not supported (Apache does not send any here)."""
    body = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(body), None
        try:
            size = int(data[pos:eol].split(b";")[0], 16)
        except ValueError:
            return bytes(body), None
        start = eol + 2
        if size == 0:
            end = data.find(b"\r\n", start)
            return bytes(body), (end + 2 if end >= 0 else None)
        chunk = data[start:start + size]
        body += chunk
        if len(chunk) < size:
            return bytes(body), None
        pos = start + size + 2


def split_responses(data: bytes, closed: bool = True) -> list[RawResponse]:
    """Splits what came back on one connection (pipelined/keep-alive) into responses by their
    framing; an unframed or incomplete last response takes the rest."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            out.append(parse_raw_response(data, closed))
            break
        hdr = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            k, _, v = line.partition(":")
            hdr[k.strip().lower()] = v.strip()
        if "chunked" in hdr.get("transfer-encoding", "").lower():
            _, end = _dechunk_end(rest)
        elif "content-length" in hdr:
            n = int(hdr["content-length"])
            end = n if len(rest) >= n else None
        else:
            end = None
        if end is None:
            out.append(parse_raw_response(data, closed))
            break
        consumed = len(head) + 4 + end
        out.append(parse_raw_response(data[:consumed], False))
        data = data[consumed:]
    return out


def chunked(*pieces: bytes) -> bytes:
    """A chunked request body made of `pieces`."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n\r\n"


# ----------------------------------------------------------------------------------------
# Apache

MPM_CONFIG = {
    "event": """
LoadModule mpm_event_module {mods}/mod_mpm_event.so
StartServers 1
ServerLimit 2
ThreadLimit 8
ThreadsPerChild 8
MinSpareThreads 1
MaxSpareThreads 16
MaxRequestWorkers 8
MaxConnectionsPerChild 0
""",
    "prefork": """
LoadModule mpm_prefork_module {mods}/mod_mpm_prefork.so
StartServers 2
MinSpareServers 1
MaxSpareServers 4
ServerLimit 4
MaxRequestWorkers 4
MaxConnectionsPerChild 0
""",
}

BASE_MODULES = ["authz_core", "authz_host", "mime", "env", "alias", "dir", "setenvif",
                "headers"]

RUNNING: list["Apache"] = []

# The GANTRY ids of the causes the tests provoke on purpose (from docs/log-messages.md).
# A test declares the ones it expects with @pytest.mark.log_ids(*harness.ids(...)); an
# error-level GANTRY line with any other id fails the test.
GANTRY_IDS: dict[str, tuple[str, ...]] = {
    # The app raised (traceback logged) or returned without calling start_response.
    "app_exception": ("GANTRY0109", "GANTRY0117"),
    # The app's status/headers/body items were invalid, or its body disagreed with its
    # Content-Length (the adapter raises inside the app, or cuts the response short).
    "bad_response": ("GANTRY0109", "GANTRY0115", "GANTRY0116"),
    "content_length_exceeded": ("GANTRY0115",),
    # What apps write to wsgi.errors / sys.stderr / sys.stdout.
    "app_output": ("GANTRY0110", "GANTRY0111", "GANTRY0112"),
    "client_gone": ("GANTRY0114", "GANTRY0049"),
    "script_not_found": ("GANTRY0041",),
    "script_load_failed": ("GANTRY0107",),
    "callable_missing": ("GANTRY0108",),
    "no_execcgi": ("GANTRY0040",),
    "chunked_refused": ("GANTRY0043",),
    # A script's reload_required() raised (traceback logged, module kept).
    "reload_check_failed": ("GANTRY0131",),
    # WSGIAuthUserScript / WSGIAuthGroupScript / WSGIAccessScript: the script raised; it
    # returned the wrong type; allow_access refused the client; the user is outside the
    # Require wsgi-group groups.
    "auth_script_failed": ("GANTRY0402",),
    "auth_bad_value": ("GANTRY0404",),
    "access_denied": ("GANTRY0403",),
    "group_denied": ("GANTRY0406",),
}


def ids(*causes: str) -> tuple[str, ...]:
    out: list[str] = []
    for cause in causes:
        out.extend(GANTRY_IDS.get(cause, ()))
    return tuple(out)

# GANTRY ids the current test declared (conftest's log_guard fills it); Apaches started
# inside a test allow them too.
CURRENT_ALLOWED_IDS: set[str] = set()


def _allow_core_dumps() -> None:
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


class ApacheError(RuntimeError):
    pass


class Apache:
    """One Apache httpd. `config` is the test's snippet; it may use the placeholders
    @ROOT@ (ServerRoot), @APPS@ (copy of tests/integration/apps), @STATE@ (a directory the
    app, running as www-data, may write to), @PORT@ and @ACCESS_LOG@ (the access log that
    access_statuses() and wait_for_access() read)."""

    def __init__(self, config: str = "", *, mpm: str = "event", module: str | None = None,
                 log_level: str = "info", extra_modules: list[str] | None = None,
                 load_wsgi: bool = True, name: str = "apache",
                 files: dict[str, str | bytes] | None = None, mode: str = "embedded",
                 extra_env: dict[str, str] | None = None):
        if mpm not in MPM_CONFIG:
            raise ValueError(f"unknown MPM {mpm!r}")
        if mode not in ("embedded", "daemon"):
            raise ValueError(f"unknown mode {mode!r}")
        self.mpm = mpm
        self.mode = mode
        self.module = module or MODULE
        self.log_level = log_level
        self.extra_modules = extra_modules or []
        self.load_wsgi = load_wsgi
        self.snippet = config
        # Added to apache2's environment; an LD_PRELOAD comes after a sanitizer's runtime.
        self.extra_env = dict(extra_env or {})
        self.allowed_ids: set[str] = set(CURRENT_ALLOWED_IDS)
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"gantry-it-{name}-"))
        os.chmod(self.root, 0o755)
        self.apps = self.root / "apps"
        self.state = self.root / "state"
        shutil.copytree(APPS_DIR, self.apps,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.state.mkdir()
        os.chmod(self.state, 0o777)
        (self.root / "logs").mkdir()
        (self.root / "run").mkdir()
        (self.root / "cores").mkdir()
        os.chmod(self.root / "cores", 0o777)
        # Sanitizer reports (a sanitizer build only): one file per reporting process, written
        # by whatever user the process runs as.
        self.sanitizer_dir = self.root / "sanitizer"
        self.sanitizer_dir.mkdir()
        os.chmod(self.sanitizer_dir, 0o777)
        self._reported: set[str] = set()
        # Child-crash lines a test caused on purpose and accounted for (allow_child_crash).
        self.excused: set[str] = set()
        (self.root / "mime.types").write_text("text/html html\ntext/plain txt\n")
        self.conf = self.root / "httpd.conf"
        self.error_log = self.root / "logs" / "error.log"
        self.stdio_log = self.root / "logs" / "stdio.log"
        self._tracked: dict[int, int] = {}
        # Log offset from which the children are being told to exit (graceful restart or
        # stop). mod_wsgi 4.9.4 on Python 3.11 sometimes crashes or aborts in exiting
        # children even with WSGIDestroyInterpreter Off; for the reference module only,
        # crashes after this point are reported as warnings instead of failing the run.
        self._exit_offset: int | None = None
        self._stopped_ok = False
        # Error-log lines of child crashes at stop that httpd_stop_race attributed to httpd.
        self._httpd_crashes: set[str] = set()
        for rel, content in (files or {}).items():
            self.add_file(rel, self.expand(content) if isinstance(content, str) else content)
        self.write_config()

    # -- configuration -------------------------------------------------------------------

    def expand(self, text: str) -> str:
        text = text.replace("@ACCESS_LOG@", self.ACCESS_LOG)
        return (text.replace("@ROOT@", str(self.root)).replace("@APPS@", str(self.apps))
                .replace("@STATE@", str(self.state)).replace("@PORT@", str(self.port)))

    def wsgi_module_line(self) -> str:
        path = module_path(self.module)
        line = f"LoadModule wsgi_module {path}"
        if self.module == "mod_wsgi":
            # mod_wsgi 4.9 with Python >= 3.9 can hang destroying sub-interpreters at child
            # exit (its documented workaround). Only for the reference module: Gantry must
            # stop cleanly without it.
            line += "\nWSGIDestroyInterpreter Off"
        return line

    def render_config(self, snippet: str | None = None) -> str:
        snippet = self.snippet if snippet is None else snippet
        mods = APACHE_MODULES
        lines = [
            f"ServerRoot {self.root}",
            f"DefaultRuntimeDir {self.root}/run",
            f"PidFile {self.root}/run/httpd.pid",
            f"Mutex file:{self.root}/run default",
            f"Listen 127.0.0.1:{self.port}",
            "ServerName 127.0.0.1",
            f"ErrorLog {self.error_log}",
            # A crashing child leaves a core here (the ServerRoot is kept when a test fails).
            f"CoreDumpDirectory {self.root}/cores",
            f"LogLevel {self.log_level}",
            "User www-data",
            "Group www-data",
            MPM_CONFIG[self.mpm].format(mods=mods),
            "Timeout 20",
            "KeepAlive On",
            "KeepAliveTimeout 5",
            "GracefulShutdownTimeout 5",
            f"TypesConfig {self.root}/mime.types",
        ]
        for m in BASE_MODULES + self.extra_modules:
            lines.append(f"LoadModule {m}_module {mods}/mod_{m}.so")
        if self.load_wsgi:
            lines.append(self.wsgi_module_line())
            if self.mode == "daemon":
                lines.append(DAEMON_CONFIG)
        lines += [
            f"DocumentRoot {self.root}/htdocs",
            "<Directory />",
            "  AllowOverride None",
            "  Require all denied",
            "</Directory>",
            f"<Directory {self.root}>",
            "  Require all granted",
            "</Directory>",
            self.expand(snippet),
            "",
        ]
        return "\n".join(lines)

    def write_config(self, snippet: str | None = None) -> Path:
        (self.root / "htdocs").mkdir(exist_ok=True)
        self.conf.write_text(self.render_config(snippet))
        return self.conf

    def add_file(self, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
        os.chmod(path, mode)
        return path

    def config_test(self, snippet: str | None = None) -> tuple[int, str]:
        """`apache2 -t` on this config (or on `snippet` in place of the test's): rc, output."""
        conf = self.conf
        if snippet is not None:
            conf = self.root / "httpd-t.conf"
            conf.write_text(self.render_config(snippet))
        p = subprocess.run([APACHE_BIN, "-t", "-f", str(conf)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=self.env())
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def env(self) -> dict[str, str] | None:
        """The environment apache2 runs with (None: this process's own)."""
        base = None
        if self.module == "gantry" and self.load_wsgi:
            base = sanitizer_env(gantry_module_path(), self.sanitizer_dir)
        if not self.extra_env:
            return base
        env = dict(base or os.environ)
        for key, value in self.extra_env.items():
            env[key] = f"{env[key]}:{value}" if key == "LD_PRELOAD" and env.get(key) else value
        return env

    def sanitizer_reports(self, new_only: bool) -> list[str]:
        """The sanitizer reports written so far (only those not returned before, with
        new_only), each as one problem line with the report's text."""
        reports = []
        for path in sorted(self.sanitizer_dir.glob("*")):
            if new_only and path.name in self._reported:
                continue
            self._reported.add(path.name)
            text = path.read_text("utf-8", "replace").strip()
            reports.append(f"sanitizer report {path}:\n{text[:20000]}")
        return reports

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "Apache":
        if self.proc is not None:
            raise ApacheError("already started")
        for attempt in range(3):
            stdio = open(self.stdio_log, "ab")
            self.proc = subprocess.Popen([APACHE_BIN, "-f", str(self.conf), "-DFOREGROUND"],
                                         stdin=subprocess.DEVNULL, stdout=stdio,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_allow_core_dumps, env=self.env())
            stdio.close()
            RUNNING.append(self)
            try:
                self._wait_listening()
                return self
            except ApacheError as e:
                if "Address already in use" in self.read_all_logs() and attempt < 2:
                    self._kill_hard()
                    self.port = free_port()
                    self.write_config()
                    continue
                self._kill_hard()
                raise ApacheError(f"{e}\n--- logs ---\n{self.read_all_logs()}") from None
        raise ApacheError("could not start")

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ApacheError(f"apache2 exited with {self.proc.returncode} at startup")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                # Listening; the children may still be starting, which is fine.
                self._track()
                return
            except OSError:
                time.sleep(0.02)
        raise ApacheError("apache2 did not start listening in time")

    def _track(self) -> None:
        if self.proc and self.proc.poll() is None:
            start = _proc_start_time(self.proc.pid)
            if start is not None:
                self._tracked[self.proc.pid] = start
            self._tracked.update(_children_of(self.proc.pid))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def child_pids(self) -> list[int]:
        return sorted(_children_of(self.proc.pid))

    def problems(self, since: int = 0, allowed: set[str] | None = None) -> list[str]:
        """log_problems() for this server's log from offset `since` (see _exit_offset),
        less the crashes stop() attributed to httpd's own stop race (httpd_stop_race.py)."""
        return [p for p in self._log_problems(since, allowed) if p not in self._httpd_crashes]

    def _log_problems(self, since: int, allowed: set[str] | None) -> list[str]:
        allowed = self.allowed_ids if allowed is None else allowed
        reports = self.sanitizer_reports(new_only=since > 0)
        if reports:
            return reports + log_problems(self.log_text(since), allowed, self.excused)
        text = self.log_text(since)
        cut = None
        if self.module == "mod_wsgi" and self._exit_offset is not None:
            cut = max(0, self._exit_offset - since)
        if cut is None or cut >= len(text.encode()):
            return log_problems(text, allowed, self.excused)
        raw = text.encode()
        before = raw[:cut].decode("utf-8", "replace")
        after = raw[cut:].decode("utf-8", "replace")
        tolerated = log_problems(after, allowed, self.excused)
        if tolerated:
            import warnings
            warnings.warn("mod_wsgi (reference) crashed in exiting children:\n"
                          + "\n".join(tolerated))
        return log_problems(before, allowed, self.excused)

    def child_crashes(self, since: int = 0) -> list[LogLine]:
        """The parent's lines for MPM children that died of a signal, after offset `since`."""
        return [ln for ln in self.log_lines(since) if CHILD_CRASH.search(ln.raw)]

    def graceful(self, timeout: float = 10.0) -> None:
        """SIGUSR1: graceful restart; returns once the new generation serves: the parent
        logged that it resumed (Apache's AH00489/AH00163 line) after the signal, a child it
        did not have before runs, and the port takes connections."""
        self._track()
        if self._exit_offset is None:
            self._exit_offset = self.log_size()
        offset = self.log_size()
        before = set(self.child_pids())
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout

        def wait(condition, what):
            while not condition():
                if time.monotonic() > deadline:
                    raise ApacheError(f"graceful restart: {what} within {timeout} s")
                time.sleep(0.05)

        wait(lambda: "resuming normal operations" in self.log_text(offset),
             "no 'resuming normal operations'")
        wait(lambda: set(self.child_pids()) - before, "no child of the new generation")

        def accepts():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        wait(accepts, "the port takes no connection")
        self._track()

    def stop(self) -> None:
        """SIGTERM the parent (SIGKILL after a bound), then require that every process this
        Apache ever had (parent, children) is gone."""
        if self.proc is None:
            return
        try:
            self._track()
            if self._exit_offset is None:
                self._exit_offset = self.log_size()
            stop_offset = None
            if self.proc.poll() is None:
                stop_offset = self.log_size()
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._kill_hard()
                    raise ApacheError("apache2 did not stop on SIGTERM within "
                                      f"{STOP_TIMEOUT}s; killed")
            leftovers = self._wait_gone(5.0)
            if leftovers:
                for pid in leftovers:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                raise ApacheError(f"processes still alive after apache2 stopped: {leftovers}"
                                  f" (ServerRoot {self.root})")
            problems = self.problems()
            if self.mpm == "event" and problems and stop_offset is not None:
                # httpd's own event-MPM race when this SIGTERM stops the children, told apart
                # by the core (httpd_stop_race.py); every other crash stays a failure.
                known = httpd_stop_race.known_stop_crashes(
                    problems, self.log_text(stop_offset), self.root / "cores", APACHE_BIN)
                self._httpd_crashes.update(known)
                problems = [p for p in problems if p not in known]
                httpd_stop_race.report(known)
            self._stopped_ok = not problems
            if problems:
                cores = sorted(str(p) for p in (self.root / "cores").glob("core*"))
                raise ApacheError(f"{self.error_log} has crashes or undeclared GANTRY errors:\n"
                                  + "\n".join(problems)
                                  + (f"\ncore files: {cores}" if cores else ""))
        finally:
            if self in RUNNING:
                RUNNING.remove(self)

    def _wait_gone(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            alive = [pid for pid, start in self._tracked.items()
                     if _proc_start_time(pid) == start]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.05)

    def _kill_hard(self) -> None:
        if self.proc is None:
            return
        self._track()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for pid in self._tracked:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if self in RUNNING:
            RUNNING.remove(self)

    def cleanup(self) -> None:
        """Removes the ServerRoot - unless the server failed its stop checks (kept for a
        post-mortem, the error names it) or GANTRY_TEST_KEEP is set."""
        if os.environ.get("GANTRY_TEST_KEEP"):
            return
        if self.proc is not None and not self._stopped_ok:
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Apache":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- logs ------------------------------------------------------------------------------

    def log_size(self) -> int:
        try:
            return self.error_log.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        try:
            with open(self.error_log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_lines(self, since: int = 0) -> list[LogLine]:
        return parse_log(self.log_text(since))

    def read_all_logs(self) -> str:
        out = self.log_text()
        try:
            out += self.stdio_log.read_text(errors="replace")
        except OSError:
            pass
        return out

    def wait_for_log(self, pattern: str, since: int = 0, timeout: float = 5.0) -> str:
        """Waits until `pattern` (a regex) appears in the log after offset `since`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text(since)
            if rx.search(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in error log; log was:\n{text}")
            time.sleep(0.05)

    def new_mark(self) -> str:
        """A fresh name for an app to create in @STATE@ (`&mark=NAME` on the apps' /sleep)."""
        return f"mark-{uuid.uuid4().hex}"

    def wait_for_mark(self, name: str, timeout: float = REQUEST_TIMEOUT) -> None:
        """Waits until the app created @STATE@/`name`: its request is running right now
        (instead of a fixed sleep standing in for "the thread is busy by now")."""
        deadline = time.monotonic() + timeout
        while not (self.state / name).exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"the application never created {name}")
            time.sleep(0.02)

    def wait_for_line(self, predicate, since: int = 0, timeout: float = 5.0,
                      what: str = "matching line") -> LogLine:
        """Waits for a parsed log line (after offset `since`) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines(since):
                if predicate(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} in error log; log was:\n"
                                     f"{self.log_text(since)}")
            time.sleep(0.05)

    # A test whose config has @ACCESS_LOG@ gets one "PATH STATUS" line per finished request.
    # Apache writes it once the request is over (handler returned, last write done or
    # failed): a positive sign that whatever the request would log is in the error log, to
    # wait on before asserting that a line is absent.
    ACCESS_LOG = 'CustomLog @ROOT@/logs/access.log "%U %>s"'

    def access_statuses(self, url_path: str) -> list[int]:
        """The statuses the access log recorded for `url_path` (no query string), in order."""
        log = self.root / "logs" / "access.log"
        lines = [ln.split() for ln in log.read_text().splitlines()] if log.exists() else []
        return [int(ln[1]) for ln in lines if len(ln) == 2 and ln[0] == url_path]

    def wait_for_access(self, url_path: str, count: int = 1,
                        timeout: float = REQUEST_TIMEOUT) -> list[int]:
        """Waits until the access log has `count` lines for `url_path`; returns their statuses."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.access_statuses(url_path)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} access log lines for {url_path}")
            time.sleep(0.05)

    # -- requests --------------------------------------------------------------------------

    def connection(self, timeout: float = REQUEST_TIMEOUT) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                conn: http.client.HTTPConnection | None = None) -> Response:
        """One request; on a new connection unless `conn` (keep-alive) is given."""
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.reason, r.getheaders(), data)
        finally:
            if own:
                conn.close()

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: bytes, **kw) -> Response:
        return self.request("POST", path, body=body, **kw)

    def get_json(self, path: str, **kw):
        """GET `path`, which must answer 200 with a JSON body; the decoded body."""
        r = self.get(path, **kw)
        assert r.status == 200, (path, r.status, r.text)
        return r.json()

    def _exchange(self, data: bytes, timeout: float, done=None) -> tuple[bytes, bool]:
        """Sends `data` as-is and reads until the server closes, `done(buffer)` says the
        reply is complete, or `timeout` passes. Returns the bytes and whether it closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            buf = bytearray()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    return bytes(buf), True
                if not chunk:
                    return bytes(buf), True
                buf += chunk
                if done and done(bytes(buf)):
                    break
            return bytes(buf), False

    def raw_all(self, data: bytes, timeout: float = 10.0) -> list[RawResponse]:
        """Sends `data` (e.g. pipelined requests, the last with Connection: close) and reads
        until the server closes or `timeout`; returns the responses split by framing."""
        return split_responses(*self._exchange(data, timeout))

    def raw(self, data: bytes, timeout: float = 10.0, head_request: bool = False,
            read_limit: int | None = None) -> RawResponse:
        """Sends `data` as-is and reads until the server closes, the response is framed
        complete, or `timeout` passes."""
        def done(buf: bytes) -> bool:
            if read_limit is not None and len(buf) >= read_limit:
                return True
            parsed = parse_raw_response(buf, False, head_request)
            return parsed.status is not None and parsed.complete

        buf, closed = self._exchange(data, timeout, done)
        return parse_raw_response(buf, closed, head_request)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@atexit.register
def _kill_leftovers() -> None:
    """An interrupted run (Ctrl-C, a crash in pytest) still takes its Apaches down."""
    for apache in list(RUNNING):
        apache._kill_hard()


@contextlib.contextmanager
def running(apache: "Apache", prepare=None):
    """Runs `prepare(apache)` (files the config needs), starts `apache`, yields it, then stops
    it - which checks its logs and that every process it had is gone - and always removes its
    ServerRoot (kept only when a check failed)."""
    try:
        if prepare:
            prepare(apache)
        apache.start()
        yield apache
        apache.stop()
    finally:
        apache.cleanup()


def server(config: str, only_mpm: tuple[str, str] | None = None, **kw):
    """A module-scoped pytest fixture: one Apache with `config` per MPM and mode (embedded,
    daemon: see MODES), shared by the tests of the module that use it. `only_mpm`: (MPM,
    why) - the tests run under that MPM alone, skipped under the others with `why`."""
    import pytest

    @pytest.fixture(scope="module")
    def _server(mpm, mode):
        if only_mpm and mpm != only_mpm[0]:
            pytest.skip(only_mpm[1])
        with running(Apache(config, mpm=mpm, mode=mode, **kw)) as apache:
            yield apache
    # A config that declares its own daemon groups has chosen where its apps run: it is
    # not run a second time under DAEMON_CONFIG (conftest's pytest_generate_tests).
    _server.gantry_own_mode = "WSGIDaemonProcess" in config
    return _server
