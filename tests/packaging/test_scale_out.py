"""Scale out: HAProxy (Debian's) in front of two Apache + Gantry hosts, each the container's
entrypoint in its own network namespace, joined to the balancer's namespace by veth pairs
(docker/compose.yaml is the same topology with containers). Under continuous bounded load
through HAProxy, a rolling restart - `apachectl graceful` on one host, then the other; then
a full stop and start of one host after HAProxy drained it - fails 0 requests."""
import json
import socket
import subprocess
from pathlib import Path

import pytest

import rootfs
from entrypoint_run import EntrypointRun

HOSTS = {"web1": "10.213.1", "web2": "10.213.2"}
PORT = 8000
LB_PORT = 8080

HAPROXY_CFG = """
global
  stats socket {sock} mode 600 level admin
defaults
  mode http
  log stdout format raw local0 info
  option httplog
  option dontlog-normal
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout check 5s
  # A server may close an idle keep-alive connection just as a request is sent on it (every
  # Apache does when it restarts gracefully): send that request again, to another server,
  # instead of closing the client's connection without an answer. Only failures before any
  # response byte are retried.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout
frontend www
  bind 127.0.0.1:{lb_port}
  default_backend gantry
backend gantry
  balance roundrobin
  # Health check through Gantry: an application URL in the daemon group (Gantry's status
  # handler, /gantry-status, can serve as well where it is enabled).
  option httpchk GET /
  http-check expect status 200
  default-server inter 300ms fall 2 rise 2
{servers}
"""


class Balancer:
    def __init__(self, workdir: Path, hosts):
        self.netns = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up; echo ready; exec sleep infinity"],
            stdout=subprocess.PIPE, text=True)
        assert self.netns.stdout.readline().strip() == "ready"
        self.sock = workdir / "haproxy.sock"
        servers = "\n".join(f"  server {name} {net}.2:{PORT} check" for name, net in hosts.items())
        self.cfg = workdir / "haproxy.cfg"
        self.cfg.write_text(HAPROXY_CFG.format(sock=self.sock, lb_port=LB_PORT, servers=servers))
        subprocess.run(["haproxy", "-c", "-f", str(self.cfg)], check=True, capture_output=True)
        self.log = open(workdir / "haproxy.log", "w+")
        self.proc = None

    def ns(self, *argv):
        return ["nsenter", "-t", str(self.netns.pid), "--net", "--", *argv]

    def link(self, name: str, net: str, box: rootfs.Sandbox):
        """veth pair: NAME in the balancer's namespace (NET.1), eth0 in the host's (NET.2)."""
        subprocess.run(["ip", "link", "add", name, "netns", str(self.netns.pid), "type", "veth",
                        "peer", "name", "eth0", "netns", str(box.pid)], check=True)
        for argv in (self.ns("ip", "addr", "add", f"{net}.1/24", "dev", name),
                     self.ns("ip", "link", "set", name, "up"),
                     box.host_command("ip", "addr", "add", f"{net}.2/24", "dev", "eth0"),
                     box.host_command("ip", "link", "set", "eth0", "up")):
            subprocess.run(argv, check=True)

    def start(self):
        self.proc = subprocess.Popen(self.ns("haproxy", "-db", "-f", str(self.cfg)),
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(line.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def server_stats(self) -> dict[str, dict[str, str]]:
        """`show stat` rows of the backend's servers by name (status, scur, ...)."""
        rows = [l for l in self.command("show stat").splitlines() if l]
        head = rows[0].lstrip("# ").split(",")
        stats = {}
        for row in rows[1:]:
            fields = dict(zip(head, row.split(",")))
            if fields["pxname"] == "gantry" and fields["svname"] in HOSTS:
                stats[fields["svname"]] = fields
        return stats

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.netns.kill()
        self.netns.wait()
        self.log.close()


def start_host(image_root, name):
    return EntrypointRun(image_root, {"GANTRY_PORT": str(PORT), "GANTRY_PROCESSES": "2",
                                      "GANTRY_THREADS": "4", "GANTRY_APP": "/srv/app/app.wsgi",
                                      "GANTRY_GRACEFUL_TIMEOUT": "30", "GANTRY_TEST_HOST": name},
                         name=name)


@pytest.fixture
def topology(image_root, workdir):
    lb = Balancer(workdir, HOSTS)
    hosts = {}
    try:
        for name, net in HOSTS.items():
            hosts[name] = start_host(image_root, name)
            lb.link(f"to-{name}", net, hosts[name].box)
        lb.start()
        yield lb, hosts
    finally:
        for h in hosts.values():
            h.close()
        lb.close()


class Load:
    """loadgen.py in the balancer's namespace: 4 clients, keep-alive, no retries."""

    def __init__(self, lb: Balancer):
        self.proc = subprocess.Popen(
            lb.ns("/usr/bin/python3", str(Path(__file__).with_name("loadgen.py")),
                  f"http://127.0.0.1:{LB_PORT}/", "4"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "started"

    def finish(self) -> dict:
        out, _ = self.proc.communicate("", timeout=120)
        return json.loads(out)


def both_up(lb):
    try:
        stats = lb.server_stats()
    except (FileNotFoundError, ConnectionRefusedError):  # HAProxy still starting
        assert lb.proc.poll() is None, lb.log_text()
        return False
    return all(stats.get(n, {}).get("status") == "UP" for n in HOSTS)


def served_by(lb, name) -> str | None:
    """A response from NAME fetched through the balancer ("hello from NAME pid N")."""
    for _ in range(6):
        r = subprocess.run(lb.ns("curl", "-s", "-m", "10", f"http://127.0.0.1:{LB_PORT}/"),
                           capture_output=True, text=True)
        if r.stdout.startswith(f"hello from {name} "):
            return r.stdout.strip()
    return None


def test_rolling_restart_under_load_fails_no_request(topology, image_root):
    lb, hosts = topology
    rootfs.wait_for(lambda: both_up(lb), 120, "HAProxy to see both hosts UP")
    load = Load(lb)
    try:
        start = {n: int(v["stot"]) for n, v in lb.server_stats().items()}
        rootfs.wait_for(lambda: all(int(v["stot"]) > start[n] + 20 for n, v in lb.server_stats().items()),
                        60, "the load to reach both hosts")
        # 1. apachectl graceful, one host at a time: each comes back with new daemon processes.
        for name, host in hosts.items():
            before = served_by(lb, name)
            host.box.run("apache2ctl graceful")
            rootfs.wait_for(lambda: (s := served_by(lb, name)) and s != before, 120,
                            f"{name}'s new daemon processes to answer")
        # 2. Full stop and start of web1, drained first: no new requests go to it, the ones
        # it has finish, then it stops (SIGTERM, as `docker stop` sends) and comes back.
        lb.command("set server gantry/web1 state drain")
        rootfs.wait_for(lambda: lb.server_stats()["web1"]["scur"] == "0", 60, "web1 to drain")
        lb.command("set server gantry/web1 state maint")
        hosts["web1"].sigterm()
        assert hosts["web1"].wait(90) == 0
        hosts["web1"].close()
        hosts["web1"] = start_host(image_root, "web1")
        lb.link("to-web1b", HOSTS["web1"], hosts["web1"].box)
        rootfs.wait_for(lambda: hosts["web1"].get(f"http://127.0.0.1:{PORT}/"), 120,
                        "the new web1 to answer")
        lb.command("set server gantry/web1 state ready")
        rootfs.wait_for(lambda: both_up(lb), 120, "web1 UP again")
        rootfs.wait_for(lambda: served_by(lb, "web1"), 60, "web1 to serve again")
    finally:
        totals = load.finish()
    stats = lb.server_stats()
    retried = {n: (v["wretr"], v["wredis"]) for n, v in stats.items()}
    print(f"load: {totals['ok']} ok, {totals['failed']} failed; HAProxy retries, redispatches: {retried}")
    assert totals["failed"] == 0, f"{totals['errors']}\n{lb.log_text()[-5000:]}"
    served = {line.split()[2] for line in totals["bodies"]}
    assert served == set(HOSTS), totals["bodies"]
    assert totals["ok"] > 100
