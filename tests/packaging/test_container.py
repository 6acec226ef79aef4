"""The container (docker/): its build step and entrypoint run in a Debian 12 chroot (always),
and the real image built and run with podman when a container runtime works here.
Checked both ways: the app mounted at /srv/app is served in daemon mode with
WSGIRestrictEmbedded On, the GANTRY_* variables shape the config, logs go to stdout/stderr,
and SIGTERM stops it gracefully - a request in flight completes with 200."""
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

import conftest
import rootfs
from entrypoint_run import APPS, EntrypointRun

ENV = {"GANTRY_PORT": "8123", "GANTRY_PROCESSES": "1", "GANTRY_THREADS": "4",
       "GANTRY_MAXIMUM_MEMORY": "256M", "GANTRY_APP": "/srv/app/app.wsgi",
       "GANTRY_TEST_HOST": "box1"}


def test_environment_shapes_the_config(image_root):
    env = " ".join(f"{k}={v}" for k, v in {**ENV, "GANTRY_PROCESSES": "3", "GANTRY_THREADS": "5"}.items())
    conf = image_root.sh(f"env GANTRY_CONF_DIR=/tmp/conf {env} gantry-entrypoint --print-config").stdout
    assert "Listen 8123" in conf
    assert "WSGIRestrictEmbedded On" in conf
    assert "WSGIDaemonProcess app processes=3 threads=5 display-name=%{GROUP} maximum-memory=256M" in conf
    assert "WSGIScriptAlias / /srv/app/app.wsgi process-group=app" in conf


@pytest.mark.parametrize("name,value", [("GANTRY_THREADS", "0"), ("GANTRY_PORT", "http"),
                                        ("GANTRY_MAXIMUM_MEMORY", "lots")])
def test_bad_environment_is_refused(image_root, name, value):
    r = image_root.sh(f"env GANTRY_CONF_DIR=/tmp/conf {name}={value} gantry-entrypoint --print-config",
                      check=False)
    assert r.returncode == 64 and name in r.stderr, r


def check_graceful_stop(get, state: Path, sigterm, wait_exit, logs):
    """Serves, then SIGTERM while a 3 s request is in flight: that request gets its 200 and
    the server exits 0 afterwards, with the access and error logs on stdout/stderr."""
    try:
        _check_graceful_stop(get, state, sigterm, wait_exit, logs)
    except AssertionError as e:
        stdout, stderr = logs()
        raise AssertionError(f"{e}\n--- stdout:\n{stdout[-3000:]}\n--- stderr:\n{stderr[-3000:]}") from e


def _check_graceful_stop(get, state, sigterm, wait_exit, logs):
    status, body = rootfs.wait_for(lambda: get("/"), 90, "the first 200")
    assert status == "200" and body.startswith("hello from"), body
    slow = {}
    t = threading.Thread(target=lambda: slow.update(r=get("/sleep?3")))
    t.start()
    rootfs.wait_for(lambda: any(state.glob("sleeping-*")), 30, "the slow request to start")
    sigterm()
    t.join(timeout=60)
    assert slow.get("r") and slow["r"][0] == "200", slow
    assert wait_exit(60) == 0
    stdout, stderr = logs()
    assert '"GET /sleep?3 HTTP/1.1" 200' in stdout, stdout[-2000:]
    assert "SIGTERM: stopping gracefully" in stderr
    assert "caught SIGWINCH, shutting down gracefully" in stderr, stderr[-2000:]


def test_entrypoint_serves_and_stops_gracefully_in_chroot(image_root):
    run = EntrypointRun(image_root, ENV)
    try:
        def get(path):
            assert run.proc.poll() is None, "the entrypoint exited"
            return run.get(f"http://127.0.0.1:8123{path}")
        check_graceful_stop(get, run.state, run.sigterm, run.wait,
                            lambda: (run.stdout(), run.stderr()))
    finally:
        run.close()


# --- the image, with podman ---------------------------------------------------------------

PODMAN_RUNROOT = "/run/gantry-packaging-podman"


def podman(*args, check=True, timeout=900):
    storage = rootfs.cache_dir() / "podman"
    cmd = ["podman", "--root", str(storage), "--runroot", PODMAN_RUNROOT, "--storage-driver", "overlay",
           "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r


# crun/runc on this kind of VM cannot apply podman's default rlimits (no CAP_SYS_RESOURCE for
# the raised values); ask for the ones the host already has.
def ulimits():
    import resource
    out = []
    for name, flag in ((resource.RLIMIT_NOFILE, "nofile"), (resource.RLIMIT_NPROC, "nproc")):
        soft, hard = resource.getrlimit(name)
        out += ["--ulimit", f"{flag}={min(soft, 4096)}:{min(hard, 4096)}"]
    return out


@pytest.fixture(scope="module")
def image(deb, base_tarball, workdir):
    if not shutil.which("podman") or not shutil.which("runc"):
        pytest.skip("podman/runc not installed (scripts/install-deps.sh installs them)")
    base = "localhost/gantry-debian12-base:" + base_tarball.stem
    if podman("image", "exists", base, check=False).returncode != 0:
        podman("import", str(base_tarball), base)
    probe = podman("run", "--rm", *ulimits(), "--network", "none", base, "/bin/true", check=False)
    if probe.returncode != 0:
        pytest.skip(f"no container can run on this machine: {probe.stderr.strip()}")
    context = workdir / "image-context"
    (context / "build").mkdir(parents=True)
    shutil.copy(deb, context / "build" / deb.name)
    shutil.copytree(conftest.SOURCE_DIR / "docker", context / "docker")
    shutil.copy(conftest.SOURCE_DIR / ".dockerignore", context / ".dockerignore")
    tag = "localhost/gantry:packaging-test"
    podman("build", "--network", "host", *ulimits(), "-f", "docker/Dockerfile",
           "--build-arg", f"BASE={base}", "-t", tag, str(context))
    yield tag
    podman("rmi", "-f", tag, check=False)
    podman("image", "prune", "-f", check=False)  # this run's build layers; the base image stays


def test_image_serves_and_stops_gracefully_with_podman(image, workdir):
    state = workdir / "podman-state"
    state.mkdir()
    state.chmod(0o777)
    # Its own network namespace, loopback only: the test reaches it through nsenter.
    netns = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up; echo ready; exec sleep infinity"],
                             stdout=subprocess.PIPE, text=True)
    assert netns.stdout.readline().strip() == "ready"
    name = f"gantry-packaging-{os.getpid()}"
    env = [a for k, v in ENV.items() for a in ("-e", f"{k}={v}")]
    try:
        podman("run", "-d", "--name", name, "--network", f"ns:/proc/{netns.pid}/ns/net", *ulimits(),
               "-v", f"{APPS}:/srv/app:ro", "-v", f"{state}:/srv/state", *env, image)

        def get(path):
            r = subprocess.run(["nsenter", "-t", str(netns.pid), "--net", "curl", "-s", "-m", "30",
                                "-o", "/dev/stdout", "-w", "\n%{http_code}", f"http://127.0.0.1:8123{path}"],
                               capture_output=True, text=True, timeout=40)
            if r.returncode != 0:
                return None
            body, _, status = r.stdout.rpartition("\n")
            return status, body

        stopper = {}

        def sigterm():  # `podman stop` sends the image's STOPSIGNAL (SIGTERM) and waits
            stopper["t"] = threading.Thread(target=lambda: podman("stop", "-t", "60", name, timeout=120))
            stopper["t"].start()

        def wait_exit(timeout):
            stopper["t"].join(timeout)
            return int(podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip())

        def logs():
            r = podman("logs", name)
            return r.stdout, r.stderr

        check_graceful_stop(get, state, sigterm, wait_exit, logs)
    finally:
        podman("rm", "-f", name, check=False)
        netns.kill()
        netns.wait()
