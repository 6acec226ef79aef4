"""Memory of a running server, per process role (Apache parent, worker children, WSGI
daemon processes, uWSGI master/workers), and the per-child cost of a WSGI module against
an Apache that loads none."""
from __future__ import annotations

import statistics

import procs

KEYS = ("rss", "pss", "uss")


def snapshot(server) -> dict:
    """{role: {count, mean, total, per_process}} with sizes in MiB."""
    out = {}
    for role, pids in server.processes().items():
        per = []
        for pid in pids:
            m = procs.memory(pid)
            if m is not None:
                per.append({"pid": pid, **{k: round(v, 2) for k, v in m.items()}})
        if not per:
            continue
        out[role] = {
            "count": len(per),
            "mean": {k: round(statistics.fmean(p[k] for p in per), 2) for k in KEYS},
            "total": {k: round(sum(p[k] for p in per), 2) for k in KEYS},
            "per_process": per,
        }
    return out


def child_delta(snap: dict, baseline: dict) -> dict | None:
    """Mean Apache worker child of `snap` minus that of the no-WSGI `baseline`, in MiB."""
    try:
        mine = snap["children"]["mean"]
        base = baseline["children"]["mean"]
    except KeyError:
        return None
    return {k: round(mine[k] - base[k], 2) for k in KEYS}
