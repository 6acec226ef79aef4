"""What starting daemon processes through the spawner costs (docs/spawner.md).

    GANTRY_MODULES_DIR=build/modules python3 bench/spawner_latency.py [on|off|preload]

Starts one Apache (event MPM, LogLevel debug) with a group recycled every 2 requests
(`off`: WSGILazyInitialization Off, Python in the parent; `on`, the default:
WSGIRestrictEmbedded On; `preload`: the same with preload=On, so the group's template has the
application and a standby has nothing left to import), sends 80 requests and prints: the time Apache's parent spends per
launch (GANTRY0089, debug), the time from a recycle taking effect (the hand-over to the standby,
GANTRY0671, debug) to the next process ready (GANTRY0203), the standby's own part of it (its
GANTRY0060 after its turn -> GANTRY0203), and the spawner's RSS/PSS/USS. Pointing GANTRY_MODULES_DIR at a
build from before the spawner needs its fork timed with a GANTRY0089 line of the same form.
"""
import datetime
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
import daemon_procs  # noqa: E402
import harness  # noqa: E402

LAZY = sys.argv[1] if len(sys.argv) > 1 else "on"
CONFIG = ("WSGILazyInitialization Off\n" if LAZY == "off" else "WSGIRestrictEmbedded On\n") + """
WSGIDaemonProcess m display-name=%{GROUP} processes=1 threads=1 maximum-requests=2""" + (
    " preload=On" if LAZY == "preload" else "") + """
WSGIScriptAlias /m @APPS@/spawner.wsgi process-group=m application-group=%{GLOBAL}
"""

def ts(line):
    m = re.match(r"\[(\w+ \w+ \d+ [\d:.]+ \d+)\]", line)
    return datetime.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S.%f %Y").timestamp()

a = harness.Apache(CONFIG, mpm="event", name="measure", log_level="debug")
a.start()
try:
    for _ in range(80):
        assert a.get("/m").status == 200
    lines = a.log_text().splitlines()
    spawn = [int(m.group(1)) for l in lines if (m := re.search(r"GANTRY0089: .* in (\d+) us", l))]
    # The recycle takes effect when the old process hands its socket over (GANTRY0671,
    # debug) -> the next GANTRY0203 (ready) of another pid. (The old process's own
    # GANTRY0204 comes after its last request, often after its successor is ready already:
    # pairing from it skipped to a later process.)
    lat = []
    for i, l in enumerate(lines):
        m = re.search(r"GANTRY0671: daemon process \d+ of group 'm' \(pid (\d+)\)", l)
        if not m:
            continue
        for l2 in lines[i + 1:]:
            m2 = re.search(r"GANTRY0203: daemon process ready: group m, pid (\d+)", l2)
            if m2 and m2.group(1) != m.group(1):
                lat.append((ts(l2) - ts(l)) * 1000)
                break
    # A standby's own part: its first line after its turn (GANTRY0060) -> its GANTRY0203.
    turn = {}
    own = []
    for l in lines:
        if m := re.search(r"GANTRY0060: starting daemon process \d+ of group 'm' \(pid (\d+)\)", l):
            turn[m.group(1)] = ts(l)
        elif (m := re.search(r"GANTRY0203: daemon process ready: group m, pid (\d+)", l)) and m.group(1) in turn:
            own.append((ts(l) - turn.pop(m.group(1))) * 1000)
    rss = [float(m.group(1)) for l in lines if (m := re.search(r"GANTRY0203: .* RSS ([\d.]+) MiB", l))]
    spawners = [p for p in a.child_pids() if daemon_procs.cmdline(p) == "(gantry-spawner)"]
    rollup = daemon_procs.smaps_rollup
    print(f"lazy={LAZY} module={harness.gantry_module_path()}")
    print(f"spawn/fork in parent: n={len(spawn)} median={statistics.median(spawn)} us p90={sorted(spawn)[int(len(spawn)*0.9)]} us max={max(spawn)} us")
    print(f"hand-over (recycle) -> next process ready: n={len(lat)} median={statistics.median(lat):.1f} ms p90={sorted(lat)[int(len(lat)*0.9)]:.1f} ms")
    print(f"standby's turn -> ready: n={len(own)} median={statistics.median(own):.1f} ms p90={sorted(own)[int(len(own)*0.9)]:.1f} ms")
    print(f"RSS of a process when ready: median {statistics.median(rss):.1f} MiB")
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}")
    for p in spawners:
        r = rollup(p)
        print(f"spawner pid {p}: RSS {r['Rss']} kB, PSS {r['Pss']} kB, USS {r.get('Private_Clean',0)+r.get('Private_Dirty',0)} kB")
finally:
    a.stop()
    a.cleanup()
