"""Command-line options (named and defaulted as mod_wsgi-express's, where it has them) and their
resolution into Settings: absolute paths, the accounts the server runs as, the Python."""
from __future__ import annotations

import argparse
import grp
import os
import pwd
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import errors

DEFAULT_PORT = 8000          # mod_wsgi-express's
DEFAULT_THREADS = 5          # mod_wsgi-express's
DEFAULT_HOST = "127.0.0.1"   # mod_wsgi-express listens on all interfaces; we do not by default
MPMS = ("event", "prefork", "worker")
SIZE = re.compile(r"^\d+[KMGkmg]?$")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gantry-express",
        description="Serve a WSGI application with Apache httpd and Gantry (daemon mode).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in (
            ("start-server", "generate the configuration and run Apache in the foreground"),
            ("setup-server", "generate the configuration and an apachectl script, then exit")):
        add_server_options(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("entry_point", metavar="SCRIPT|MODULE",
                   help="the WSGI script file (or, with --application-type module, the module)")
    p.add_argument("--application-type", choices=("script", "module"), default="script",
                   help="'script' (a file, the default) or 'module' (a module name to import)")
    p.add_argument("--callable-object", default="application", metavar="NAME",
                   help="name of the WSGI callable in the entry point (default: application)")
    p.add_argument("--host", default=DEFAULT_HOST, metavar="IP-ADDRESS",
                   help="address to listen on (default: 127.0.0.1; 0.0.0.0 for every "
                        "interface, as mod_wsgi-express does by default)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="NUMBER",
                   help=f"port to listen on (default: {DEFAULT_PORT})")
    p.add_argument("--server-name", metavar="HOSTNAME",
                   help="answer only requests for this host name (others get 403)")
    p.add_argument("--processes", type=int, metavar="NUMBER",
                   help="daemon processes (default: 1)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="NUMBER",
                   help=f"request threads per daemon process (default: {DEFAULT_THREADS})")
    p.add_argument("--maximum-requests", type=int, default=0, metavar="NUMBER",
                   help="recycle a daemon process after this many requests (default: 0, never)")
    p.add_argument("--maximum-memory", metavar="SIZE",
                   help="recycle a daemon process whose resident memory passes SIZE "
                        "(bytes, or with a K, M or G suffix)")
    p.add_argument("--reload-on-changes", action="store_true",
                   help="restart the daemon processes when any loaded Python file changes")
    p.add_argument("--url-alias", action="append", nargs=2, dest="url_aliases", default=[],
                   metavar=("URL-PATH", "FILE-OR-DIRECTORY"),
                   help="serve a static file or directory at a URL (repeatable)")
    p.add_argument("--document-root", metavar="DIRECTORY",
                   help="static files served where they exist; other URLs go to the app")
    p.add_argument("--working-directory", metavar="DIRECTORY",
                   help="working directory of the daemon processes, appended to sys.path "
                        "(default: the current directory)")
    p.add_argument("--python-path", action="append", dest="python_paths", default=[],
                   metavar="DIRECTORY", help="directory added to sys.path (repeatable)")
    p.add_argument("--python-home", metavar="DIRECTORY",
                   help="virtual environment (or Python prefix) of the daemon processes "
                        "(default: $VIRTUAL_ENV when set)")
    p.add_argument("--user", metavar="NAME",
                   help="account of the Apache children and daemon processes; required when "
                        "run as root (e.g. --user www-data)")
    p.add_argument("--group", metavar="NAME", help="group of those processes "
                   "(default: the user's primary group)")
    p.add_argument("--server-root", metavar="DIRECTORY",
                   help="where the configuration, logs and sockets go (start-server default: "
                        "a new temporary directory, removed at exit)")
    p.add_argument("--server-mpm", "--mpm", dest="mpm", choices=MPMS, default="event",
                   help="Apache MPM (default: event)")
    p.add_argument("--log-level", default="info", metavar="NAME",
                   help="Apache LogLevel (default: info)")
    p.add_argument("--log-to-terminal", action="store_true",
                   help="error log to stderr (and the access log to stdout)")
    p.add_argument("--access-log", action="store_true", help="write an access log")
    p.add_argument("--status-page", action="store_true",
                   help="serve Gantry's status page at /gantry-status, to local clients only")
    p.add_argument("--include-file", action="append", dest="include_files", default=[],
                   metavar="FILE", help="Apache configuration file included at the end")


@dataclass
class Account:
    user: str
    group: str
    uid: int
    gid: int
    groups: list[int]     # supplementary gids of the user


@dataclass
class Settings:
    command: str
    application_type: str
    entry_point: str                  # absolute path for scripts, module name for modules
    callable_object: str
    host: str
    port: int
    server_name: str | None
    processes: int | None
    threads: int
    maximum_requests: int
    maximum_memory: str | None
    reload_on_changes: bool
    url_aliases: list[tuple[str, Path]]
    document_root: Path | None        # None: an empty htdocs in the server root
    working_directory: Path
    python_paths: list[Path]
    python_home: Path | None
    account: Account | None           # None: not root, everything runs as the caller
    server_root: Path
    server_root_is_temporary: bool
    mpm: str
    log_level: str
    log_to_terminal: bool
    access_log: bool
    status_page: bool
    include_files: list[Path]
    python_home_from_env: bool = False
    argv: list[str] = field(default_factory=list)

    @property
    def group_name(self) -> str:
        """The daemon process group's name: HOST:PORT, as mod_wsgi-express names it."""
        return f"{self.host}:{self.port}"

    @property
    def daemon_user(self) -> str:
        return self.account.user if self.account else pwd.getpwuid(os.getuid()).pw_name


def _existing(path: str, what: str, directory: bool) -> Path:
    p = Path(path).expanduser().absolute()
    ok = p.is_dir() if directory else p.exists()
    if not ok:
        kind = "directory" if directory else "file or directory"
        raise errors.ExpressError(errors.BAD_PATH, f"{what} {path}: no such {kind}")
    return p


def resolve_account(user: str | None, group: str | None) -> Account | None:
    if os.geteuid() != 0:
        if user and user != pwd.getpwuid(os.getuid()).pw_name:
            raise errors.ExpressError(
                errors.BAD_ACCOUNT, f"--user {user}: only root can run the server as another "
                "user; drop --user (the server runs as you) or start gantry-express as root")
        return None
    if not user:
        raise errors.ExpressError(
            errors.ROOT_WITHOUT_USER,
            "running as root needs --user (and optionally --group): Apache's children and the "
            "daemon processes must not run as root; e.g. --user www-data --group www-data")
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise errors.ExpressError(errors.BAD_ACCOUNT, f"--user {user}: no such user") from None
    if pw.pw_uid == 0:
        raise errors.ExpressError(errors.BAD_ACCOUNT, "--user root: the daemon processes must "
                                  "not run as root; use an unprivileged account such as www-data")
    try:
        gr = grp.getgrnam(group) if group else grp.getgrgid(pw.pw_gid)
    except KeyError:
        raise errors.ExpressError(errors.BAD_ACCOUNT, f"--group {group}: no such group") from None
    extra = os.getgrouplist(user, gr.gr_gid)
    return Account(user, gr.gr_name, pw.pw_uid, gr.gr_gid, extra)


def _check_numbers(args: argparse.Namespace) -> None:
    checks = [("--port", args.port, 1, 65535), ("--threads", args.threads, 1, 10000),
              ("--maximum-requests", args.maximum_requests, 0, 2**31 - 1)]
    if args.processes is not None:
        checks.append(("--processes", args.processes, 1, 1000))
    for name, value, low, high in checks:
        if not low <= value <= high:
            raise errors.ExpressError(errors.BAD_OPTION,
                                      f"{name} {value}: must be from {low} to {high}")
    if args.maximum_memory is not None and not SIZE.match(args.maximum_memory):
        raise errors.ExpressError(errors.BAD_OPTION, f"--maximum-memory {args.maximum_memory}: "
                                  "give bytes or a number with K, M or G (e.g. 512M)")
    for url, _ in args.url_aliases:
        if not url.startswith("/"):
            raise errors.ExpressError(errors.BAD_OPTION,
                                      f"--url-alias {url}: the URL path must start with '/'")


# Settings fields taken from the command line as they are (validated by _check_numbers).
PASSED_THROUGH = ("command", "application_type", "callable_object", "host", "port",
                  "server_name", "processes", "threads", "maximum_requests", "maximum_memory",
                  "reload_on_changes", "mpm", "log_level", "log_to_terminal", "access_log",
                  "status_page")


def resolve(args: argparse.Namespace, argv: list[str]) -> Settings:
    _check_numbers(args)
    if args.application_type == "script":
        entry_point = str(_existing(args.entry_point, "WSGI script", directory=False))
    else:
        entry_point = args.entry_point
    account = resolve_account(args.user, args.group)
    python_home, from_env = None, False
    if args.python_home:
        python_home = _existing(args.python_home, "--python-home", directory=True)
    elif os.environ.get("VIRTUAL_ENV"):
        python_home = _existing(os.environ["VIRTUAL_ENV"], "VIRTUAL_ENV", directory=True)
        from_env = True
    if args.server_root:
        server_root, temporary = Path(args.server_root).expanduser().absolute(), False
    elif args.command == "start-server":
        server_root, temporary = Path(tempfile.mkdtemp(prefix="gantry-express-")), True
    else:
        server_root = Path(f"/tmp/gantry-express-{args.host}:{args.port}:{os.getuid()}")
        temporary = False
    passed_through = {name: getattr(args, name) for name in PASSED_THROUGH}
    return Settings(
        **passed_through,
        entry_point=entry_point,
        url_aliases=[(url.rstrip("/") or "/", _existing(path, f"--url-alias {url}", False))
                     for url, path in args.url_aliases],
        document_root=(_existing(args.document_root, "--document-root", True)
                       if args.document_root else None),
        working_directory=_existing(args.working_directory or os.getcwd(),
                                    "--working-directory", True),
        python_paths=[_existing(p, "--python-path", True) for p in args.python_paths],
        python_home=python_home,
        python_home_from_env=from_env,
        account=account,
        server_root=server_root,
        server_root_is_temporary=temporary,
        include_files=[_existing(f, "--include-file", False) for f in args.include_files],
        argv=argv,
    )
