"""strace around a piece of a test: the system calls that processes (and what they start)
make meanwhile."""
import contextlib
import signal
import subprocess
import time
from pathlib import Path


def traced(pids) -> bool:
    """Every thread of every pid has a tracer."""
    for pid in pids:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            if "TracerPid:\t0\n" in text:
                return False
    return True


@contextlib.contextmanager
def tracing(pids, calls: str, out: Path):
    """Runs `strace -f -e trace=CALLS` on `pids` (every thread, and the processes they start)
    into `out` from the moment all are attached until the block ends."""
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace={calls}", "-o", str(out)]
                              + [arg for pid in pids for arg in ("-p", str(pid))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not traced(pids):
            assert tracer.poll() is None, tracer.stderr.read()
            assert time.monotonic() < deadline, "strace did not attach within 10 s"
            time.sleep(0.02)
        yield
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
