"""What a process the application starts inherits of signals: its blocked mask and ignored
dispositions (from /proc/self/status) when started by subprocess, os.system and
os.posix_spawn, and whether subprocess's terminate() stops it (test_child_signals.py)."""
import json
import os
import subprocess
import tempfile
import time

# The child reports itself with grep, which changes no signal of its own (a Python child
# would ignore SIGPIPE and SIGXFSZ at start-up whatever it inherited).
GREP = ["/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]


def report_via(how):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report")
        if how == "system":
            rc = os.system(" ".join(f"'{a}'" for a in GREP) + f" > '{out}'")
            assert rc == 0, rc
        elif how == "posix_spawn":
            actions = [(os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT, 0o600)]
            pid = os.posix_spawn(GREP[0], GREP, os.environ, file_actions=actions)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
        else:
            # restore_signals=False ("subprocess-raw"): what the child inherits untouched.
            with open(out, "w") as f:
                subprocess.run(GREP, stdout=f, check=True, timeout=60,
                               restore_signals=how != "subprocess-raw")
        with open(out) as f:
            fields = dict(line.split(":", 1) for line in f.read().splitlines())
        return {key: int(value.strip(), 16) for key, value in fields.items()}


def terminate():
    """Starts `sleep 60`, terminate()s it and reports how it ended and how long it took."""
    proc = subprocess.Popen(["sleep", "60"])
    began = time.monotonic()
    proc.terminate()
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "still running after 10 s"
        proc.wait()
    return {"returncode": code, "seconds": round(time.monotonic() - began, 3)}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/terminate":
        body = terminate()
    else:
        body = report_via(path.strip("/"))
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
