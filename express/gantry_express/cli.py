"""gantry-express COMMAND: start-server (foreground) and setup-server (directory + apachectl)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import errors, foreground, locate, options, preflight, server_root
from .httpd_conf import STATUS_URL


def say(message: str) -> None:
    print(f"gantry-express: {message}", flush=True)


def _config_test(inst: locate.Installation, conf: Path) -> None:
    p = subprocess.run([str(inst.apache_bin), "-t", "-f", str(conf)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise errors.ExpressError(errors.APACHE_FAILED, "Apache refused the generated "
                                  f"configuration {conf}:\n{(p.stdout + p.stderr).strip()}")


def _summary(s: options.Settings, conf: Path) -> list[str]:
    url = f"http://{s.server_name or foreground.connect_host(s.host)}:{s.port}/"
    lines = [f"URL {url} (daemon group {s.group_name}: {s.processes or 1} process(es) x "
             f"{s.threads} threads, as user {s.daemon_user})",
             f"server root {s.server_root}, configuration {conf}"]
    if not s.log_to_terminal:
        lines.append(f"error log {s.server_root / 'error_log'}")
    if s.status_page:
        lines.append(f"status page {url.rstrip('/')}{STATUS_URL} (local clients only)")
    return lines


def prepare(s: options.Settings, inst: locate.Installation, check_listen: bool) -> Path:
    if s.python_home_from_env:
        say(f"using the virtual environment VIRTUAL_ENV={s.python_home}")
    conf = server_root.write(s, inst)
    preflight.run_all(s, inst, check_listen)
    _config_test(inst, conf)
    return conf


def start_server(s: options.Settings, inst: locate.Installation) -> int:
    conf = prepare(s, inst, check_listen=True)

    def announce() -> None:
        for line in _summary(s, conf):
            say(line)
        say("Ctrl-C stops it")

    try:
        rc = foreground.run(inst.apache_bin, conf, s.host, s.port, announce)
    except errors.ExpressError:
        _print_log_tail(s)
        raise
    if rc != 0:
        _print_log_tail(s)
    return rc


def _print_log_tail(s: options.Settings) -> None:
    """Why Apache stopped, when its error log is a file (else it is on the terminal)."""
    log = s.server_root / "error_log"
    if not s.log_to_terminal and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-20:]
        print("\n".join(tail), file=sys.stderr)


def setup_server(s: options.Settings, inst: locate.Installation) -> int:
    conf = prepare(s, inst, check_listen=False)
    for line in _summary(s, conf):
        say(line)
    say(f"start it with {s.server_root / 'apachectl'} start (stop, restart, graceful too)")
    return 0


def main(argv: list[str], tree_root: Path | None, installed_modules_dir: str | None) -> int:
    args = options.build_parser().parse_args(argv[1:])
    settings = None
    try:
        inst = locate.find_installation(tree_root, installed_modules_dir)
        settings = options.resolve(args, argv)
        if args.command == "start-server":
            return start_server(settings, inst)
        return setup_server(settings, inst)
    except errors.ExpressError as e:
        print(f"gantry-express: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before Apache started: nothing runs yet
        print("gantry-express: interrupted", file=sys.stderr)
        return 130
    finally:
        if settings is not None and settings.server_root_is_temporary:
            shutil.rmtree(settings.server_root, ignore_errors=True)
