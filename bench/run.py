#!/usr/bin/python3
"""Gantry's benchmark: Apache serving static files (the ceiling), Debian's mod_wsgi, Gantry
(each in daemon and embedded mode) and uWSGI behind mod_proxy_uwsgi, loaded with wrk.

Each server runs in turn, alone, from its own ServerRoot on 127.0.0.1 (see servers.py);
each workload (see load.py) gets a warm-up and several repetitions, of which the median by
req/s is kept. Writes OUT/latest.json and OUT/latest.md (default OUT: bench/results).

A benchmark, not a test: nothing here asserts a timing. Every process it starts (Apache as
`-DFOREGROUND`, uWSGI, wrk) is a child it stops by pid, also on Ctrl-C or failure.

  /usr/bin/python3 bench/run.py                      # everything, 3 reps x 5 s
  /usr/bin/python3 bench/run.py --servers gantry-daemon,mod_wsgi-daemon --workloads hello
  /usr/bin/python3 bench/run.py --smoke --out /tmp/x  # CI: static + gantry-daemon, hello, 1 s

Flags fall back to BENCH_REPS, BENCH_DURATION, BENCH_WARMUP, BENCH_SERVERS, BENCH_WORKLOADS,
BENCH_WRK_THREADS, BENCH_CONNECTIONS; mod_gantry.so is taken from --gantry-so, else
$GANTRY_MODULES_DIR, else build/modules.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import load  # noqa: E402
import memory  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402

REPO = BENCH_DIR.parent
MAX_LOG_LINES = 20  # error-log lines kept per workload in the JSON (all are counted)
SMOKE = {"servers": "static,gantry-daemon", "workloads": "hello", "reps": 1, "duration": 1.0,
         "warmup": 0.0}


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default=env("BENCH_SERVERS"),
                   help=f"comma list of {','.join(servers.SERVERS)} (default: all)")
    p.add_argument("--workloads", default=env("BENCH_WORKLOADS"),
                   help=f"comma list of {','.join(load.WORKLOADS)} (default: all)")
    p.add_argument("--reps", type=int, default=env("BENCH_REPS"),
                   help="repetitions per workload, median kept (default 3)")
    p.add_argument("--duration", type=float, default=env("BENCH_DURATION"),
                   help="seconds per repetition, whole seconds (default 5)")
    p.add_argument("--warmup", type=float, default=env("BENCH_WARMUP"),
                   help="unrecorded seconds of load before the repetitions (default 1)")
    p.add_argument("--wrk-threads", type=int, default=int(env("BENCH_WRK_THREADS", "2")))
    p.add_argument("--connections", type=int, default=env("BENCH_CONNECTIONS"),
                   help="connections for every workload but sleep (default 16; sleep: 64)")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds after start-up before the idle memory snapshot")
    p.add_argument("--gantry-so", type=Path, default=None)
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    p.add_argument("--keep", action="store_true", help="keep the ServerRoots (logs, configs)")
    p.add_argument("--report-from", type=Path, default=None, metavar="JSON",
                   help="measure nothing: recompute ratios/targets of a results JSON and "
                        "rewrite it and its markdown table in --out")
    p.add_argument("--smoke", action="store_true",
                   help="CI smoke: static + gantry-daemon, hello, 1 rep of 1 s, no warm-up "
                        "(explicit flags still win)")
    a = p.parse_args(argv)
    defaults = SMOKE if a.smoke else {"servers": ",".join(servers.SERVERS),
                                      "workloads": ",".join(load.WORKLOADS), "reps": 3,
                                      "duration": 5.0, "warmup": 1.0}
    for key, value in defaults.items():
        if getattr(a, key) is None:
            setattr(a, key, value)
    a.reps, a.duration, a.warmup = int(a.reps), float(a.duration), float(a.warmup)
    a.servers = [s for s in a.servers.split(",") if s]
    a.workloads = [w for w in a.workloads.split(",") if w]
    for s in a.servers:
        if s not in servers.SERVERS:
            p.error(f"unknown server {s!r}; known: {', '.join(servers.SERVERS)}")
    for w in a.workloads:
        if w not in load.WORKLOADS:
            p.error(f"unknown workload {w!r}; known: {', '.join(load.WORKLOADS)}")
    if a.reps < 1 or a.duration < 1:
        p.error("--reps must be >= 1 and --duration >= 1 (wrk counts whole seconds)")
    # The static server is the memory baseline and the ceiling: always measured first.
    a.servers.sort(key=lambda s: servers.SERVERS.index(s))
    if a.gantry_so is None:
        modules = os.environ.get("GANTRY_MODULES_DIR") or str(REPO / "build" / "modules")
        a.gantry_so = Path(modules) / "mod_gantry.so"
    return a


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def meta(a: argparse.Namespace) -> dict:
    return {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "servers": a.servers, "workloads": a.workloads, "reps": a.reps,
        "duration_s": a.duration, "warmup_s": a.warmup, "wrk_threads": a.wrk_threads,
        "cpus": os.cpu_count(), "loadavg_start": Path("/proc/loadavg").read_text().split()[0],
        "gantry_so": str(a.gantry_so),
        "gantry_commit": _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "apache": _version([servers.APACHE_BIN, "-v"]),
        "mod_wsgi": _version(["dpkg-query", "-W", "libapache2-mod-wsgi-py3"]),
        "uwsgi": _version(["dpkg-query", "-W", "uwsgi-core"]),
        "python": _version(["/usr/bin/python3.11", "--version"]),
        "apache_pool": f"event MPM, {servers.APACHE_CHILDREN} children x "
                       f"{servers.APACHE_THREADS} threads",
        "daemon_pool": f"{servers.DAEMON_PROCESSES} processes x {servers.DAEMON_THREADS} threads",
    }


def measure_workload(server: servers.Server, w: load.Workload, a: argparse.Namespace,
                     scratch: Path) -> dict:
    path = w.path(server.name)
    entry: dict = {"url": path, "connections": w.connections, "payload_bytes": w.payload,
                   "description": w.description}
    offset = server.log_size()
    try:
        load.check(server.port, w, path)
    except load.LoadError as e:
        entry["failure"] = f"{e}\n{server.logs()}"
        return entry
    finally:
        # Closed when the next workload starts (or at the loaded-memory snapshot): the
        # server may log a client abort a moment after wrk has returned.
        entry["log_span"] = [offset, None]
    url = f"http://127.0.0.1:{server.port}{path}"
    script = load.lua_script(w, scratch)
    if a.warmup > 0:
        load.run_wrk(url, w, script, a.warmup, a.wrk_threads)
    reps = []
    for _ in range(a.reps):
        before = server.cpu_seconds()
        raw = load.run_wrk(url, w, script, a.duration, a.wrk_threads)
        reps.append(load.summarize(raw, w, server.cpu_seconds() - before))
    by_rps = sorted(reps, key=lambda r: r["req_s"])
    entry["median"] = by_rps[(len(by_rps) - 1) // 2]
    entry["reps"] = reps
    entry["req_s_spread"] = [r["req_s"] for r in reps]
    entry["req_s_stdev"] = round(statistics.pstdev(entry["req_s_spread"]), 1)
    server.wait_log_quiet()
    return entry


def _close_log_span(result: dict, server: servers.Server) -> None:
    for entry in result["workloads"].values():
        span = entry.get("log_span")
        if span and span[1] is None:
            span[1] = server.log_size()


def measure_server(name: str, a: argparse.Namespace, scratch: Path, running: list) -> dict:
    server = servers.Server(name, a.gantry_so, keep=a.keep)
    running.append(server)
    result: dict = {"config": server.module_lines(), "server_root": str(server.root),
                    "app_threads": server.app_threads if server.is_wsgi else None,
                    "workloads": {}}
    print(f"[bench] {name}: starting on port {server.port} ({server.root})", flush=True)
    try:
        server.start()
        time.sleep(a.settle)
        result["memory"] = {"idle": memory.snapshot(server)}
        for wname in a.workloads:
            w = load.WORKLOADS[wname]
            if server.name == "static" and w.static_path is None:
                continue
            if a.connections and wname != "sleep":
                w = dataclasses.replace(w, connections=a.connections)
            _close_log_span(result, server)
            entry = measure_workload(server, w, a, scratch)
            result["workloads"][wname] = entry
            m = entry.get("median")
            if m:
                print(f"[bench] {name} {wname}: {m['req_s']:.0f} req/s, p99 {m['p99_ms']} ms, "
                      f"{m['errors']} errors, {m['cpu_ms_per_req']} CPU ms/req", flush=True)
            else:
                print(f"[bench] {name} {wname}: FAILED\n{entry['failure']}", flush=True)
        time.sleep(a.settle)
        _close_log_span(result, server)
        result["memory"]["after_load"] = memory.snapshot(server)
    except servers.ServerError as e:
        result["failure"] = str(e)
        print(f"[bench] {name}: FAILED\n{e}", flush=True)
    finally:
        result["stop_problems"] = server.stop()
        running.remove(server)
        # Error-log lines by the workload during which they were written; the rest
        # (start-up, shutdown) stay with the server.
        spans = []
        for entry in result["workloads"].values():
            start, end = entry.pop("log_span", [0, 0])
            end = end if end is not None else start
            lines = server.error_lines(start, end)
            entry["error_log_count"] = len(lines)
            entry["error_log"] = lines[:MAX_LOG_LINES]
            spans.append((start, end))
        lines = []
        cursor = 0
        for start, end in sorted(spans):
            lines += server.error_lines(cursor, start)
            cursor = end
        lines += server.error_lines(cursor)
        result["error_log"] = lines[:MAX_LOG_LINES]
        result["error_log_count"] = len(lines)
        if not result.get("failure") and not result["stop_problems"] and \
                not result["error_log"] and not a.keep:
            server.cleanup()
        else:
            result["server_root_kept"] = True
    return result


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def write_results(results: dict, out: Path) -> None:
    report.add_ratios(results)
    results["targets"] = report.targets(results)
    out.mkdir(parents=True, exist_ok=True)
    # Paths inside the checkout are written relative to it: the results are committed, and
    # one machine's checkout path means nothing on another.
    text = json.dumps(results, indent=1).replace(str(REPO) + "/", "")
    (out / "latest.json").write_text(text + "\n")
    (out / "latest.md").write_text(report.markdown(results))
    print(f"[bench] wrote {out / 'latest.json'} and {out / 'latest.md'}", flush=True)


def main(argv: list[str]) -> int:
    a = parse_args(argv)
    if a.report_from:
        write_results(json.loads(a.report_from.read_text()), a.out)
        return 0
    for tool in (servers.APACHE_BIN, load.WRK_BIN):
        if not os.access(tool, os.X_OK):
            print(f"bench: {tool} missing; run scripts/install-deps.sh", file=sys.stderr)
            return 2
    if any(s.startswith("gantry") for s in a.servers) and not a.gantry_so.is_file():
        print(f"bench: {a.gantry_so} not built; run scripts/build.sh or pass --gantry-so",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    results = {"meta": meta(a), "servers": {}}
    running: list[servers.Server] = []
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="gantry-bench-wrk-") as scratch:
        try:
            for name in a.servers:
                results["servers"][name] = measure_server(name, a, Path(scratch), running)
        except KeyboardInterrupt:
            interrupted = True
            print("[bench] interrupted: stopping servers", file=sys.stderr, flush=True)
        finally:
            for server in list(running):
                try:
                    server.stop()
                except BaseException:
                    server.kill_all()
    results["meta"]["interrupted"] = interrupted
    write_results(results, a.out)
    failed = interrupted or any(
        s.get("failure") or any(w.get("failure") for w in s["workloads"].values())
        for s in results["servers"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
