"""Checks before Apache starts, for the mistakes users make most, each failing with a message
that says what to change: the port is free, the socket directory is usable, the virtual
environment is of the Python Gantry embeds, and the application is readable by the daemon user
and imports in the daemon's Python (run as that user, with the daemon's sys.path)."""
from __future__ import annotations

import configparser
import errno
import json
import os
import socket
import subprocess
from pathlib import Path

from . import errors
from .locate import Installation
from .options import Settings

# PREFIX.PID.GENERATION.ID.sock (Gantry's and mod_wsgi's socket names) must fit in sun_path
# (108 bytes with its NUL): room for the longest suffix.
SUN_PATH_MAX = 107
SOCKET_SUFFIX_MAX = len(".4194304.4294967295.4294967295.sock")
CHECK_TIMEOUT = 120.0  # importing a large application as a check can take a while


def check_port(s: Settings) -> None:
    family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((s.host, s.port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                fix = "stop what uses it or pick another with --port"
            elif e.errno == errno.EACCES:
                fix = "ports below 1024 need root (with --user), or pick --port 8000"
            else:
                fix = "check --host names an address of this machine"
            raise errors.ExpressError(
                errors.PORT_IN_USE,
                f"cannot listen on {s.host}:{s.port} ({e.strerror}): {fix}") from None


def check_socket_path(s: Settings) -> None:
    prefix = s.server_root / "run" / "wsgi"
    if len(str(prefix)) + SOCKET_SUFFIX_MAX > SUN_PATH_MAX:
        raise errors.ExpressError(
            errors.SOCKET_DIR_UNUSABLE,
            f"--server-root {s.server_root} is too long for the daemon sockets ({prefix}... "
            f"must stay under {SUN_PATH_MAX} bytes with its suffix): use a shorter path")


def python_home_version(home: Path) -> tuple[int, int] | None:
    """The major.minor of a virtual environment (pyvenv.cfg) or a Python prefix (lib/pythonX.Y)."""
    cfg = home / "pyvenv.cfg"
    if cfg.is_file():
        parser = configparser.ConfigParser()
        parser.read_string("[venv]\n" + cfg.read_text(errors="replace"))
        version = parser["venv"].get("version_info") or parser["venv"].get("version") or ""
        parts = version.split(".")
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
            return int(parts[0]), int(parts[1])
    versions = sorted(p.name[len("python"):] for p in (home / "lib").glob("python3.*"))
    for v in versions:
        major, _, minor = v.partition(".")
        if major.isdigit() and minor.isdigit():
            return int(major), int(minor)
    return None


def check_python_home(s: Settings, inst: Installation) -> Path:
    """The interpreter the checks run the application with: the environment's own python (its
    site-packages are the daemon's), else the embedded version's system interpreter."""
    if s.python_home is None:
        return inst.python_executable
    where = (f"VIRTUAL_ENV={s.python_home}" if s.python_home_from_env
             else f"--python-home {s.python_home}")
    embedded = "%d.%d" % inst.python_version
    version = python_home_version(s.python_home)
    if version is None:
        raise errors.ExpressError(
            errors.PYTHON_MISMATCH,
            f"{where} is not a Python environment (no pyvenv.cfg, no lib/python3.X): create "
            f"one with /usr/bin/python{embedded} -m venv DIR")
    if version != inst.python_version:
        raise errors.ExpressError(
            errors.PYTHON_MISMATCH,
            f"{where} is a Python {version[0]}.{version[1]} environment but Gantry embeds "
            f"Python {embedded}: recreate it with /usr/bin/python{embedded} -m venv "
            f"{s.python_home} (and reinstall its packages), or build Gantry against "
            f"Python {version[0]}.{version[1]}")
    for name in (f"python{embedded}", "python3", "python"):
        if os.access(s.python_home / "bin" / name, os.X_OK):
            return s.python_home / "bin" / name
    return inst.python_executable


def _as_user(s: Settings) -> dict:
    if s.account is None:
        return {}
    return {"user": s.account.uid, "group": s.account.gid, "extra_groups": s.account.groups}


def _import_advice(result: dict, s: Settings) -> str:
    exception = result.get("exception")
    if exception in ("ModuleNotFoundError", "ImportError"):
        missing = result.get("name") or "the module"
        return (f"add the directory that contains {missing} with --python-path DIR (or "
                f"--working-directory), or install it into the daemon's Python"
                + (f" ({s.python_home})" if s.python_home else
                   " (a virtual environment: --python-home DIR)"))
    if exception == "SyntaxError":
        return "fix the syntax error it names"
    if exception == "PermissionError":
        return (f"make the file it names readable by user {s.daemon_user} (or run with "
                "--user set to its owner)")
    return "fix the error it names (the traceback above shows where it comes from)"


def run_app_check(s: Settings, python: Path) -> None:
    check_source = (Path(__file__).parent / "app_check.py").read_text()
    payload = {
        "application_type": s.application_type,
        "entry_point": s.entry_point,
        "callable_object": s.callable_object,
        "working_directory": str(s.working_directory),
        "python_paths": [str(p) for p in s.python_paths],
        "socket_directory": str(s.server_root / "run"),
        "socket_directory_writable": s.account is None,
        "process_group": s.group_name,
        "processes": s.processes or 1,
        "threads": s.threads,
    }
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a check must not leave __pycache__ behind
    try:
        proc = subprocess.run([str(python), "-c", check_source, json.dumps(payload)],
                              cwd="/", env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=CHECK_TIMEOUT,
                              **_as_user(s))
    except subprocess.TimeoutExpired:
        raise errors.ExpressError(
            errors.APP_IMPORT_FAILED,
            f"importing {s.entry_point} did not finish in {CHECK_TIMEOUT:.0f} s: does it "
            "block at import (a network call, input())?") from None
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise errors.ExpressError(
            errors.APP_IMPORT_FAILED,
            f"{python} could not check the application (exit {proc.returncode}): "
            f"{proc.stderr.strip()[-2000:]}") from None
    if result["ok"]:
        return
    user = s.daemon_user
    kind = result["kind"]
    if kind == "socket_directory":
        blocked = result.get("blocked")
        raise errors.ExpressError(
            errors.SOCKET_DIR_UNUSABLE,
            f"the daemon socket directory {result['path']} is not usable by user {user}"
            + (f" (no search permission on {blocked})" if blocked else "")
            + ": use a --server-root that user can reach (e.g. under /tmp)"
            + (f", or chmod o+x {blocked}" if blocked else ""))
    if kind == "missing":
        raise errors.ExpressError(errors.APP_UNREADABLE,
                                  f"{result['path']}: no such file")
    if kind == "unreadable":
        blocked = result.get("blocked")
        fix = (f"chmod o+x {blocked} (user {user} cannot enter it)" if blocked
               else f"chmod o+r {result['path']}")
        raise errors.ExpressError(
            errors.APP_UNREADABLE,
            f"{result['path']} is not readable by user {user}, who runs the daemon processes "
            f"({result['error']}): {fix}, or run as its owner with --user")
    if kind == "working_directory":
        raise errors.ExpressError(
            errors.BAD_PATH,
            f"user {user} cannot enter the working directory {result['path']} "
            f"({result['error']}): give a --working-directory that user can enter")
    if kind == "callable":
        found = ", ".join(result["names"]) or "none"
        raise errors.ExpressError(
            errors.APP_IMPORT_FAILED,
            f"{s.entry_point} has no callable named {result['name']!r} (callables found: "
            f"{found}): name it with --callable-object NAME")
    raise errors.ExpressError(
        errors.APP_IMPORT_FAILED,
        f"{s.entry_point} does not import in the daemon's Python ({python}, as user {user}): "
        f"{result['error']}\n{result['traceback'].rstrip()}\n"
        f"sys.path was: {result['sys_path']}\n"
        f"To fix: {_import_advice(result, s)}.")


def run_all(s: Settings, inst: Installation, check_listen: bool) -> None:
    if check_listen:
        check_port(s)
    check_socket_path(s)
    python = check_python_home(s, inst)
    run_app_check(s, python)
