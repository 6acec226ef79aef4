"""The benchmark harness (bench/run.py) still runs: a one-second smoke of the hello workload
against the static ceiling and the module's daemon mode. It checks the shape of the JSON
the benchmark writes, that no request failed and that every process it started is gone -
never a timing (benchmark numbers are not test results)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import harness

RUN_PY = harness.REPO_ROOT / "bench" / "run.py"
SERVER = "gantry-daemon" if harness.IS_GANTRY else "mod_wsgi-daemon"
FIGURES = {"requests", "req_s", "mib_s", "p50_ms", "p99_ms", "errors", "cpu_ms_per_req"}


def _alive_in_bench(pid: int) -> bool:
    """Whether `pid` is still one of the bench's processes (not a later reuse of the pid)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"gantry-bench-" in cmd


def test_bench_smoke(tmp_path):
    env = dict(os.environ, GANTRY_MODULES_DIR=str(harness.gantry_module_path().parent))
    for var in ("BENCH_SERVERS", "BENCH_WORKLOADS", "BENCH_REPS", "BENCH_DURATION"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, str(RUN_PY), "--smoke", "--servers", f"static,{SERVER}",
         "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=180)
    output = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, output

    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["meta"]["servers"] == ["static", SERVER]
    assert results["meta"]["workloads"] == ["hello"]
    assert set(results["servers"]) == {"static", SERVER}

    pids = []
    for name, server in results["servers"].items():
        assert "failure" not in server, (name, server.get("failure"))
        assert server["error_log"] == [], (name, server["error_log"])
        assert server["stop_problems"] == [], (name, server["stop_problems"])
        hello = server["workloads"]["hello"]
        assert "failure" not in hello, (name, hello.get("failure"))
        median = hello["median"]
        assert FIGURES <= set(median), (name, median)
        assert median["requests"] > 0 and median["req_s"] > 0, (name, median)
        assert median["errors"] == 0, (name, median["error_detail"])
        assert hello["error_log_count"] == 0, (name, hello["error_log"])
        assert len(hello["reps"]) == 1
        for phase in ("idle", "after_load"):
            mem = server["memory"][phase]
            assert mem["parent"]["count"] == 1, (name, phase, mem)
            assert mem["children"]["count"] == 2, (name, phase, mem)
            for role in mem.values():
                for p in role["per_process"]:
                    assert p["rss"] > 0 and p["uss"] > 0, (name, phase, p)
                    pids.append(p["pid"])
    daemon = results["servers"][SERVER]
    assert daemon["memory"]["idle"]["daemons"]["count"] == 2, daemon["memory"]["idle"]
    assert daemon["workloads"]["hello"]["ratios"]["vs_static"] > 0
    assert set(daemon["child_delta_vs_no_wsgi"]) == {"idle", "after_load"}
    assert {t["target"] for t in results["targets"]} and all(
        set(t) == {"target", "value", "op", "threshold", "unit", "met"}
        for t in results["targets"])

    table = (tmp_path / "latest.md").read_text()
    assert f"| hello | {SERVER} |" in table and "| hello | static |" in table, table

    # Every Apache process the bench started (parent, children, daemons) is gone.
    assert not [pid for pid in pids if _alive_in_bench(pid)], output
