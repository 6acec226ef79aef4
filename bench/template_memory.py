"""Memory of daemon processes forked from their group's template (docs/template.md), side by
side with Debian's mod_wsgi 4.9.4 and uWSGI, in one run:

    GANTRY_MODULES_DIR=build/modules python3 bench/template_memory.py [--requests-per-process N]

1. Idle daemon process (hello app, one request): RSS, PSS and USS of Gantry's vs mod_wsgi's.
2. Django admin (Debian's python3-django: a `django-admin startproject` site, its login page
   /admin/login/) in a group of processes=4 threads=4, after N requests per process (default
   1,000) from 8 client threads: the group's total PSS and USS - Gantry preload=On, Gantry
   without, mod_wsgi (WSGIImportScript preloads it in each process), uWSGI (--processes 4
   --threads 4, its default preforking: the app is loaded in the master, then forked). The
   totals include the template (Gantry) and the master (uWSGI): memory the group costs.
   "+ warm-up script" adds a WSGIImportScript that renders the page once with Django's test
   client, so that what the first request loads lazily (URLconf, admin, templates,
   translations) is loaded in the template and shared too.
3. Recycle latency: the time from a recycle decision (GANTRY0204) to the next process ready
   (GANTRY0203) for a group with maximum-requests=2 - see bench/spawner_latency.py.

Prints a Markdown table; run on an otherwise idle machine for stable figures.
"""
from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
import daemon_procs  # noqa: E402
import harness  # noqa: E402

UWSGI_BIN = "/usr/bin/uwsgi"
STATUSES: dict = {}  # what the failed requests got, for the report


def rollup(pid: int) -> dict[str, int]:
    out = daemon_procs.smaps_rollup(pid)
    return {"rss": out["Rss"], "pss": out["Pss"], "uss": out["Private_Clean"] + out["Private_Dirty"]}


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def hammer(port: int, path: str, total: int, threads: int = 8) -> int:
    """Sends `total` GETs from `threads` keep-alive clients; returns the failures."""
    left = [total]
    failures = [0]
    lock = threading.Lock()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    with lock:
                        failures[0] += 1
                        STATUSES[r.status] = STATUSES.get(r.status, 0) + 1
            except http.client.RemoteDisconnected:
                # Apache closed the kept-alive connection (MaxKeepAliveRequests 100): as any
                # client does, send the request again on a new one.
                with lock:
                    left[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except Exception as e:
                with lock:
                    failures[0] += 1
                    STATUSES[type(e).__name__] = STATUSES.get(type(e).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return failures[0]


def make_django(root: Path) -> Path:
    site = root / "django-site"
    site.mkdir()
    subprocess.run(["/usr/bin/django-admin", "startproject", "mysite", str(site)], check=True, timeout=60)
    with open(site / "mysite" / "settings.py", "a") as settings:
        settings.write("\nALLOWED_HOSTS = ['*']\nDEBUG = False\n")
    subprocess.run(["/usr/bin/python3", "manage.py", "migrate", "-v0"], cwd=site, check=True, timeout=300)
    for p in [site, *site.rglob("*")]:
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    return site


def group_processes(apache: harness.Apache, group: str) -> tuple[list[int], list[int]]:
    """(serving processes, template) of a display-name=%{GROUP} group."""
    pids = [p for p in apache.child_pids() if daemon_procs.cmdline(p).startswith(f"(wsgi:{group})")]
    # (mod_wsgi writes its title over argv[0] only: the rest of Apache's arguments follow)
    serving = [p for p in pids if daemon_procs.cmdline(p).split()[-1] not in ("template", "spare")]
    template = [p for p in pids if daemon_procs.cmdline(p) == f"(wsgi:{group}) template"]
    return serving, template


def totals(pids: list[int]) -> dict[str, int]:
    figures = [rollup(p) for p in pids]
    return {k: sum(f[k] for f in figures) for k in ("rss", "pss", "uss")}


def idle_daemon(module: str) -> dict[str, int]:
    config = """WSGIRestrictEmbedded On
WSGIDaemonProcess idle display-name=%{GROUP} processes=1 threads=15
WSGIScriptAlias /hello @APPS@/hello.wsgi process-group=idle application-group=%{GLOBAL}
"""
    a = harness.Apache(config, mpm="event", module=module, name="bench-idle")
    a.start()
    try:
        assert a.get("/hello").status == 200
        time.sleep(1)  # idle: nothing in flight
        serving, _ = group_processes(a, "idle")
        assert len(serving) == 1, serving
        return rollup(serving[0])
    finally:
        a.stop()


WARM_UP = """# preload=On: what the first request would load (URLconf, admin, templates, translations)
# is loaded here, in the template, so every process shares it (docs/template.md).
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
import django
django.setup()
from django.test import Client
Client().get("/admin/login/")
"""


def django_group(module: str, preload: bool, per_process: int, site: Path, warm_up: bool = False) -> dict:
    wsgi = site / "mysite" / "wsgi.py"
    warm = site / "warm_up.py"
    warm.write_text(WARM_UP)
    warm.chmod(0o666)
    config = f"""WSGIRestrictEmbedded On
WSGIDaemonProcess dj display-name=%{{GROUP}} processes=4 threads=4 python-path={site}{' preload=On' if preload else ''}
WSGIImportScript {wsgi} process-group=dj application-group=%{{GLOBAL}}
{f'WSGIImportScript {warm} process-group=dj application-group=%{{GLOBAL}}' if warm_up else ''}
WSGIScriptAlias / {wsgi} process-group=dj application-group=%{{GLOBAL}}
<Directory {site}>
  Require all granted
</Directory>
"""
    a = harness.Apache(config, mpm="event", module=module, name="bench-django")
    a.start()
    try:
        failures = hammer(a.port, "/admin/login/", 4 * per_process)
        time.sleep(1)
        serving, template = group_processes(a, "dj")
        assert len(serving) == 4, serving
        return {"workers": totals(serving), "all": totals(serving + template), "failures": failures}
    finally:
        a.stop()


def django_uwsgi(per_process: int, site: Path) -> dict:
    root = Path(tempfile.mkdtemp(prefix="gantry-bench-uwsgi-"))
    port = harness.free_port()
    log = open(root / "uwsgi.log", "ab")
    proc = subprocess.Popen(
        [UWSGI_BIN, "--plugin", "python3", "--http11-socket", f"127.0.0.1:{port}", "--master",
         "--processes", "4", "--threads", "4", "--chdir", str(site), "--pythonpath", str(site),
         "--module", "mysite.wsgi:application", "--uid", "www-data", "--gid", "www-data",
         "--disable-logging"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/admin/login/")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (root / "uwsgi.log").read_text()[-2000:]
            time.sleep(0.2)
        failures = hammer(port, "/admin/login/", 4 * per_process)
        time.sleep(1)
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                  text=True).stdout.split()]
        assert len(workers) == 4, workers
        return {"workers": totals(workers), "all": totals(workers + [proc.pid]), "failures": failures}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests-per-process", type=int, default=1000)
    parser.add_argument("--only", default="",
                        help="comma-separated words: run only the Django rows whose name contains one"
                             " (mod_wsgi's row always runs: the ratios are to it), and skip the idle"
                             " daemon table; e.g. --only preload for an A/B of two builds")
    args = parser.parse_args()
    only = [w.strip().lower() for w in args.only.split(",") if w.strip()]
    print(f"# template memory bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
          f" gantry={harness.gantry_module_path()}\n")

    if not only:
        idle = {name: idle_daemon(module) for name, module in (("Gantry", "gantry"), ("mod_wsgi", "mod_wsgi"))}
        print("| idle daemon process (MiB) | RSS | PSS | USS |\n|---|--:|--:|--:|")
        for name, f in idle.items():
            print(f"| {name} | {mib(f['rss'])} | {mib(f['pss'])} | {mib(f['uss'])} |")
        g, m = idle["Gantry"], idle["mod_wsgi"]
        print(f"| Gantry ÷ mod_wsgi | {g['rss'] / m['rss']:.2f}x | {g['pss'] / m['pss']:.2f}x |"
              f" {g['uss'] / m['uss']:.2f}x |\n")

    work = Path(tempfile.mkdtemp(prefix="gantry-bench-django-"))
    os.chmod(work, 0o755)
    try:
        site = make_django(work)
        n = args.requests_per_process
        rows = {
            "Gantry preload=On": lambda: django_group("gantry", True, n, site),
            "Gantry preload=On + warm-up script": lambda: django_group("gantry", True, n, site, warm_up=True),
            "Gantry (no preload)": lambda: django_group("gantry", False, n, site),
            "mod_wsgi 4.9.4": lambda: django_group("mod_wsgi", False, n, site),
            "uWSGI (preforking)": lambda: django_uwsgi(n, site),
        }
        runs = {name: run() for name, run in rows.items()
                if not only or name.startswith("mod_wsgi") or any(w in name.lower() for w in only)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = runs["mod_wsgi 4.9.4"]["all"]
    print(f"| Django admin, processes=4, {args.requests_per_process} req/process (MiB) |"
          " workers PSS | workers USS | group PSS (+ template/master) | group USS | group PSS ÷ mod_wsgi | failed |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name, r in runs.items():
        print(f"| {name} | {mib(r['workers']['pss'])} | {mib(r['workers']['uss'])} | {mib(r['all']['pss'])} |"
              f" {mib(r['all']['uss'])} | {r['all']['pss'] / base['pss']:.2f}x | {r['failures']} |")
    if STATUSES:
        print(f"\nfailed requests got: {STATUSES}")


if __name__ == "__main__":
    main()
