"""The generated httpd.conf: Debian's Apache with one Gantry daemon process group serving the
application through handler.wsgi, static files from the document root and the URL aliases."""
from __future__ import annotations

import math

from .locate import Installation
from .options import Settings

HANDLER_NAME = "gantry-express-app"
STATUS_URL = "/gantry-status"
# Modules the configuration uses, beyond what Debian's apache2 has compiled in (log_config,
# unixd, version...).
MODULES = ("authz_core", "authz_host", "mime", "alias", "dir", "rewrite", "env")


def quote(value: object) -> str:
    """A double-quoted Apache argument (Gantry's options accept the same quoting)."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def max_clients(s: Settings) -> int:
    """Connections Apache accepts at once: 1.5 x the daemon threads (mod_wsgi-express's rule),
    at least 10, so static files and queued requests are not starved."""
    return max(10, math.ceil(1.5 * (s.processes or 1) * s.threads))


def mpm_section(s: Settings, inst: Installation) -> list[str]:
    clients = max_clients(s)
    lines = [f"LoadModule mpm_{s.mpm}_module {quote(inst.apache_modules / f'mod_mpm_{s.mpm}.so')}"]
    if s.mpm == "prefork":
        lines += [f"ServerLimit {clients}", "StartServers 2", "MinSpareServers 1",
                  f"MaxSpareServers {max(2, clients // 4)}", f"MaxRequestWorkers {clients}"]
    else:
        per_child = min(clients, 25)
        servers = math.ceil(clients / per_child)
        lines += [f"ServerLimit {servers}", f"ThreadLimit {per_child}",
                  f"ThreadsPerChild {per_child}", "StartServers 1",
                  f"MinSpareThreads {per_child}", f"MaxSpareThreads {servers * per_child}",
                  f"MaxRequestWorkers {servers * per_child}"]
    return lines + ["MaxConnectionsPerChild 0"]


def daemon_process_line(s: Settings) -> str:
    opts = [f"display-name={quote('%{GROUP}')}", f"home={quote(s.working_directory)}",
            f"threads={s.threads}"]
    if s.processes is not None:
        opts.append(f"processes={s.processes}")
    if s.maximum_requests:
        opts.append(f"maximum-requests={s.maximum_requests}")
    if s.maximum_memory:
        opts.append(f"maximum-memory={s.maximum_memory}")
    if s.python_paths:
        opts.append(f"python-path={quote(':'.join(str(p) for p in s.python_paths))}")
    if s.python_home:
        opts.append(f"python-home={quote(s.python_home)}")
    if s.account:
        opts += [f"user={quote(s.account.user)}", f"group={quote(s.account.group)}"]
    return f"WSGIDaemonProcess {quote(s.group_name)} \\\n    " + " \\\n    ".join(opts)


def logging_section(s: Settings) -> list[str]:
    error_log = "/dev/stderr" if s.log_to_terminal else s.server_root / "error_log"
    lines = [f"ErrorLog {quote(error_log)}", f"LogLevel {s.log_level}"]
    if s.access_log:
        access_log = "/dev/stdout" if s.log_to_terminal else s.server_root / "access_log"
        lines += ['LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',
                  f"CustomLog {quote(access_log)} common"]
    return lines


def document_root_section(s: Settings) -> list[str]:
    """Files under the document root are served as they are; any other URL under it goes to
    the application (mod_rewrite hands it to the WSGIHandlerScript's handler)."""
    root = s.document_root or s.server_root / "htdocs"
    lines = [f"DocumentRoot {quote(root)}", f"<Directory {quote(root)}>",
             "    RewriteEngine On", "    RewriteCond %{REQUEST_FILENAME} !-f"]
    if s.status_page:
        lines.append(f"    RewriteCond %{{REQUEST_URI}} !^{STATUS_URL}")
    lines += [f"    RewriteRule .* - [H={HANDLER_NAME}]", "    Require all granted",
              "</Directory>"]
    return lines


def url_alias_section(s: Settings) -> list[str]:
    lines: list[str] = []
    for url, target in s.url_aliases:
        lines.append(f"Alias {quote(url)} {quote(target)}")
        if target.is_dir():
            lines += [f"<Directory {quote(target)}>", "    Require all granted", "</Directory>"]
        else:
            lines += [f"<Directory {quote(target.parent)}>",
                      f"    <Files {quote(target.name)}>", "        Require all granted",
                      "    </Files>", "</Directory>"]
    return lines


def server_name_section(s: Settings) -> list[str]:
    """With --server-name, a first (default) virtual host refuses requests for any other
    host name; the named one serves."""
    if not s.server_name:
        return []
    address = f"*:{s.port}"
    return [f"<VirtualHost {address}>", f"    ServerName {quote(s.host)}",
            "    <Location />", "        Require all denied", "    </Location>",
            "</VirtualHost>", f"<VirtualHost {address}>",
            f"    ServerName {quote(s.server_name)}", "</VirtualHost>"]


def render(s: Settings, inst: Installation) -> str:
    root = s.server_root
    handler = root / "handler.wsgi"
    process_group = quote(s.group_name)
    lines = [
        "# Generated by gantry-express: " + " ".join(s.argv),
        f"ServerRoot {quote(root)}",
        f"DefaultRuntimeDir {quote(root / 'run')}",
        f"PidFile {quote(root / 'run' / 'httpd.pid')}",
        f"Mutex {quote('file:' + str(root / 'run'))} default",
        f"Listen {listen_address(s.host, s.port)}",
        f"ServerName {quote(s.server_name or s.host)}",
        "ServerSignature Off",
    ]
    if s.account:
        lines += [f"User {quote(s.account.user)}", f"Group {quote(s.account.group)}"]
    lines += mpm_section(s, inst)
    lines += [f"LoadModule {m}_module {quote(inst.apache_modules / f'mod_{m}.so')}"
              for m in MODULES]
    lines += logging_section(s)
    lines += [
        f"TypesConfig {quote('/etc/mime.types')}",
        "Timeout 60",
        "KeepAlive On",
        "<Directory />", "    AllowOverride None", "    Require all denied", "</Directory>",
        f"LoadModule wsgi_module {quote(inst.gantry_module)}",
        "WSGIRestrictEmbedded On",
        f"WSGISocketPrefix {quote(root / 'run' / 'wsgi')}",
        daemon_process_line(s),
        f"<Directory {quote(root)}>",
        '    <Files "handler.wsgi">', "        Require all granted", "    </Files>",
        "</Directory>",
        f"WSGIHandlerScript {HANDLER_NAME} {quote(handler)} \\\n"
        f"    process-group={process_group} application-group=%{{GLOBAL}}",
        # Loads the application when each daemon process starts, not on its first request.
        f"WSGIImportScript {quote(handler)} \\\n"
        f"    process-group={process_group} application-group=%{{GLOBAL}}",
    ]
    lines += document_root_section(s)
    lines += url_alias_section(s)
    if s.status_page:
        lines += [f"<Location {STATUS_URL}>", "    SetHandler gantry-status",
                  "    Require local", "</Location>"]
    lines += server_name_section(s)
    lines += [f"Include {quote(f)}" for f in s.include_files]
    return "\n".join(lines) + "\n"
