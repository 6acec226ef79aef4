"""Ratios between the servers measured in one run, the issue's targets, and the markdown
rendering of bench/results/latest.json."""
from __future__ import annotations

import memory

# Whom each server is compared with ("× mod_wsgi" columns): the same mode of mod_wsgi;
# uWSGI's processes x threads match the daemon groups.
COUNTERPART = {"gantry-daemon": "mod_wsgi-daemon", "gantry-embedded": "mod_wsgi-embedded",
               "uwsgi": "mod_wsgi-daemon"}


def _median(results: dict, server: str, workload: str) -> dict | None:
    s = results["servers"].get(server) or {}
    w = (s.get("workloads") or {}).get(workload) or {}
    return w.get("median")


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def add_ratios(results: dict) -> None:
    """Fills each workload's `ratios` (req/s and CPU per request against the static ceiling,
    the mod_wsgi counterpart and uWSGI; sleep against its ideal) and each server's child
    memory delta against the no-WSGI Apache."""
    for name, s in results["servers"].items():
        for wname, w in (s.get("workloads") or {}).items():
            m = w.get("median")
            if not m:
                continue
            r = {}
            static = _median(results, "static", wname)
            if static and name != "static":
                r["vs_static"] = _ratio(m["req_s"], static["req_s"])
            other = COUNTERPART.get(name)
            o = _median(results, other, wname) if other else None
            if o:
                r["vs_mod_wsgi"] = _ratio(m["req_s"], o["req_s"])
                r["cpu_vs_mod_wsgi"] = _ratio(m["cpu_ms_per_req"], o["cpu_ms_per_req"])
            u = _median(results, "uwsgi", wname)
            if u and name not in ("uwsgi", "static"):
                r["vs_uwsgi"] = _ratio(m["req_s"], u["req_s"])
                r["cpu_vs_uwsgi"] = _ratio(m["cpu_ms_per_req"], u["cpu_ms_per_req"])
            if wname == "sleep" and s.get("app_threads"):
                ideal = min(s["app_threads"], w["connections"]) / 0.010
                w["ideal_req_s"] = ideal
                r["vs_ideal"] = _ratio(m["req_s"], ideal)
            w["ratios"] = r
    base = (results["servers"].get("static") or {}).get("memory") or {}
    for name, s in results["servers"].items():
        mem = s.get("memory") or {}
        if name == "static" or not base:
            continue
        s["child_delta_vs_no_wsgi"] = {
            phase: memory.child_delta(mem.get(phase) or {}, base.get(phase) or {})
            for phase in ("idle", "after_load")}


def _target(name: str, value: float | None, op: str, threshold: float, unit: str = "x") -> dict:
    met = None
    if value is not None:
        met = value >= threshold if op == ">=" else value <= threshold
    return {"target": name, "value": value, "op": op, "threshold": threshold, "unit": unit,
            "met": met}


def targets(results: dict) -> list[dict]:
    """The issue's targets, each met / not met / n/a (not measured in this run)."""
    def ratio(server, workload, key):
        w = ((results["servers"].get(server) or {}).get("workloads") or {}).get(workload) or {}
        return (w.get("ratios") or {}).get(key)

    def daemon_mem(server, key):
        try:
            return results["servers"][server]["memory"]["idle"]["daemons"]["mean"][key]
        except KeyError:
            return None

    def child_rss_delta(phase):
        d = (results["servers"].get("gantry-daemon") or {}).get("child_delta_vs_no_wsgi") or {}
        return (d.get(phase) or {}).get("rss")

    return [
        _target("hello: Gantry daemon req/s vs mod_wsgi daemon",
                ratio("gantry-daemon", "hello", "vs_mod_wsgi"), ">=", 2.0),
        _target("hello: Gantry daemon req/s vs uWSGI",
                ratio("gantry-daemon", "hello", "vs_uwsgi"), ">=", 1.3),
        _target("hello: Gantry daemon CPU/request vs mod_wsgi daemon",
                ratio("gantry-daemon", "hello", "cpu_vs_mod_wsgi"), "<=", 0.5),
        _target("1 MiB streamed: Gantry daemon req/s vs mod_wsgi daemon",
                ratio("gantry-daemon", "stream", "vs_mod_wsgi"), ">=", 2.0),
        _target("file_wrapper: Gantry daemon req/s vs static",
                ratio("gantry-daemon", "file", "vs_static"), ">=", 0.8),
        _target("10 MiB upload: Gantry daemon req/s vs mod_wsgi daemon",
                ratio("gantry-daemon", "upload", "vs_mod_wsgi"), ">=", 2.0),
        _target("sleep 10 ms: Gantry daemon req/s vs ideal (threads / 10 ms)",
                ratio("gantry-daemon", "sleep", "vs_ideal"), ">=", 0.95),
        _target("idle daemon process RSS: Gantry vs mod_wsgi",
                _ratio(daemon_mem("gantry-daemon", "rss"), daemon_mem("mod_wsgi-daemon", "rss")),
                "<=", 1.0),
        _target("idle daemon process USS: Gantry vs mod_wsgi",
                _ratio(daemon_mem("gantry-daemon", "uss"), daemon_mem("mod_wsgi-daemon", "uss")),
                "<=", 1.0),
        _target("Apache child RSS above no-WSGI, Gantry daemon mode (RestrictEmbedded On), idle",
                child_rss_delta("idle"), "<=", 0.5, "MiB"),
        _target("Apache child RSS above no-WSGI, Gantry daemon mode, after the load",
                child_rss_delta("after_load"), "<=", 0.5, "MiB"),
        _target("embedded hello: Gantry req/s vs mod_wsgi embedded",
                ratio("gantry-embedded", "hello", "vs_mod_wsgi"), ">=", 1.1),
        _target("embedded file_wrapper: Gantry req/s vs static",
                ratio("gantry-embedded", "file", "vs_static"), ">=", 0.9),
    ]


# ------------------------------------------------------------------------------------------
# Markdown

def _fmt(v, digits=2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(results: dict) -> str:
    meta = results["meta"]
    out = ["# Gantry benchmark", "",
           f"{meta['started']} · {meta['reps']} reps × {meta['duration_s']} s per workload "
           f"(median rep kept, after {meta['warmup_s']} s warm-up) · wrk {meta['wrk_threads']} "
           f"threads · {meta['cpus']} CPUs · load average at start {meta['loadavg_start']}",
           "", "Generated by `scripts/bench.sh` (bench/run.py); numbers from a shared or busy "
           "machine are noisy. CPU = server CPU time (Apache parent + children + daemon / "
           "uWSGI processes) per request.", "",
           "## Throughput and latency", "",
           "| workload | server | req/s | MiB/s | p50 ms | p99 ms | errors | CPU ms/req "
           "| × static | × mod_wsgi | CPU × mod_wsgi | × uWSGI |",
           "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for wname in meta["workloads"]:
        for sname in meta["servers"]:
            s = results["servers"].get(sname) or {}
            w = (s.get("workloads") or {}).get(wname)
            if w is None:
                continue
            m = w.get("median")
            if not m:
                out.append(f"| {wname} | {sname} | failed (see Problems) "
                           "| | | | | | | | | |")
                continue
            r = w.get("ratios", {})
            extra = r.get("vs_ideal")
            vs_ideal = f" (×{extra:.2f} ideal)" if extra is not None else ""
            out.append(
                f"| {wname} | {sname} | {_fmt(m['req_s'], 0)}{vs_ideal} | {_fmt(m['mib_s'])} | "
                f"{_fmt(m['p50_ms'])} | {_fmt(m['p99_ms'])} | {m['errors']} | "
                f"{_fmt(m['cpu_ms_per_req'], 3)} | {_fmt(r.get('vs_static'))} | "
                f"{_fmt(r.get('vs_mod_wsgi'))} | {_fmt(r.get('cpu_vs_mod_wsgi'))} | "
                f"{_fmt(r.get('vs_uwsgi'))} |")
    out += ["", "## Memory (MiB, mean per process)", "",
            "| server | role | n | idle RSS | idle PSS | idle USS | loaded RSS | loaded PSS "
            "| loaded USS |", "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for sname in meta["servers"]:
        mem = (results["servers"].get(sname) or {}).get("memory") or {}
        idle, loaded = mem.get("idle") or {}, mem.get("after_load") or {}
        for role in ("parent", "children", "daemons", "spawner", "template", "uwsgi_master", "uwsgi_workers"):
            if role not in idle and role not in loaded:
                continue
            i = (idle.get(role) or {}).get("mean", {})
            a = (loaded.get(role) or {}).get("mean", {})
            n = (idle.get(role) or loaded.get(role))["count"]
            out.append(f"| {sname} | {role} | {n} | {_fmt(i.get('rss'))} | {_fmt(i.get('pss'))}"
                       f" | {_fmt(i.get('uss'))} | {_fmt(a.get('rss'))} | {_fmt(a.get('pss'))} "
                       f"| {_fmt(a.get('uss'))} |")
    out += ["", "Apache worker child above the no-WSGI Apache (static), MiB:", "",
            "| server | idle ΔRSS | idle ΔUSS | loaded ΔRSS | loaded ΔUSS |",
            "|---|--:|--:|--:|--:|"]
    for sname in meta["servers"]:
        d = (results["servers"].get(sname) or {}).get("child_delta_vs_no_wsgi")
        if not d:
            continue
        i, a = d.get("idle") or {}, d.get("after_load") or {}
        out.append(f"| {sname} | {_fmt(i.get('rss'))} | {_fmt(i.get('uss'))} | "
                   f"{_fmt(a.get('rss'))} | {_fmt(a.get('uss'))} |")
    out += ["", "## Targets (issue 5)", "", "| target | measured | wanted | met |",
            "|---|--:|--:|---|"]
    for t in results["targets"]:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "**not met**")
        unit = " MiB" if t["unit"] == "MiB" else "×"
        value = "–" if t["value"] is None else f"{t['value']:.2f}{unit}"
        out.append(f"| {t['target']} | {value} | {t['op']} {t['threshold']}{unit} | {met} |")
    problems = []
    for sname, s in results["servers"].items():
        if s.get("failure"):
            problems.append(f"- **{sname}** failed:\n\n```\n{s['failure']}\n```")
        for wname, w in (s.get("workloads") or {}).items():
            if w.get("failure"):
                problems.append(f"- **{sname}/{wname}** failed:\n\n```\n{w['failure']}\n```")
            if w.get("error_log_count"):
                note = (" (wrk closes its connections mid-request when its time is up: the"
                        " app's read or the response's write then fails, the client is gone)"
                        if wname in ("upload", "stream", "file") else "")
                problems.append(f"- {sname}/{wname}: {w['error_log_count']} error-log lines"
                                f"{note}; first: `{w['error_log'][0]}`")
        for line in (s.get("error_log") or [])[:10]:
            problems.append(f"- {sname} error log (outside the workloads): `{line}`")
        for line in s.get("stop_problems") or []:
            problems.append(f"- {sname} stop: {line}")
    if problems:
        out += ["", "## Problems", ""] + problems
    return "\n".join(out) + "\n"
