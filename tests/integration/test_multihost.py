"""A cluster of several hosts, built the way docs/admin-guide.md says, with network
namespaces as the hosts: a head node (hpcq-ctld), two compute nodes (hpcq-noded) and a
login node (hpcq-agent), joined by veth pairs on a bridge. Certificates name the hosts'
addresses, each host gets its config from packaging/config/, and a user with no
certificate submits on the login node. Then one compute node's link goes down.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.transport import AgentTransport
from tests import localusers
from tests.cluster import BIN
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
              pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) not installed")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "packaging" / "config"
S = jobs_pb2.JobState
USER = "hpcqcarol"
SUBNET = "10.77.0"
HOSTS = {"head": f"{SUBNET}.1", "node01": f"{SUBNET}.11", "node02": f"{SUBNET}.12", "login01": f"{SUBNET}.21"}
HEAD = HOSTS["head"]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Net:
    """Namespaces named PREFIX-host, and a bridge in PREFIX-hub joining their eth0."""
    prefix: str
    made: list[str] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def add(self, name: str) -> None:
        sh("ip", "netns", "add", name)
        self.made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def build(self) -> None:
        hub = self.ns("hub")
        self.add(hub)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for host, address in HOSTS.items():
            ns = self.ns(host)
            self.add(ns)
            sh("ip", "-n", hub, "link", "add", f"v-{host}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", hub, "link", "set", f"v-{host}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def destroy(self) -> None:
        """Kill whatever still runs in our namespaces (job supervisors are detached from the
        daemons and would outlive them), then delete the namespaces."""
        for name in self.made:
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for name in reversed(self.made):
            sh("ip", "netns", "del", name, check=False)


@dataclass
class Site:
    net: Net
    base: Path
    env: dict[str, str]
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)
    socket: Path | None = None    # the login node's agent socket

    def host(self, name: str) -> Path:
        return self.base / name

    def conf(self, host: str) -> Path:
        return self.host(host) / "etc" / "hpcq" / "hpcq.toml"

    def start(self, host: str, command: str, *argv: str) -> None:
        log = open(self.host(host) / f"{command}.log", "ab")  # noqa: SIM115 - the daemon's, for as long as it runs
        self.daemons[f"{host}/{command}"] = subprocess.Popen(
            ["ip", "netns", "exec", self.net.ns(host), f"{BIN}/{command}", "-c", str(self.conf(host)), *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)

    def log(self, host: str, command: str) -> str:
        return (self.host(host) / f"{command}.log").read_text()

    def hpcqctl(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """hpcqctl on the head node, as root with the admin certificate (the guide's way)."""
        result = subprocess.run(["ip", "netns", "exec", self.net.ns("head"), f"{BIN}/hpcqctl", *argv],
                                capture_output=True, text=True, timeout=30,
                                env={**self.env, "HPCQ_CONF": str(self.conf("head"))})
        if check and result.returncode:
            raise AssertionError(f"hpcqctl {' '.join(argv)}: {result.returncode}\n{result.stdout}{result.stderr}")
        return result

    def stop(self) -> None:
        for process in self.daemons.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.daemons.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def install_config(site: Site, host: str, example: str, *, replace: dict[str, str]) -> Path:
    """The admin guide's step: copy an example config and change what differs on this host."""
    text = (EXAMPLES / f"{example}.toml").read_text()
    for old, new in replace.items():
        assert old in text, f"{example}.toml no longer says {old!r}: update this test and the admin guide"
        text = text.replace(old, new)
    path = site.conf(host)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def issue_certificates(site: Site, ca: Path) -> None:
    """The guide's certificate steps, with the real hpcqctl."""
    def certs(*argv: str) -> None:
        subprocess.run([f"{BIN}/hpcqctl", "certs", *argv], check=True, capture_output=True, env=site.env, timeout=30)

    certs("init", "--dir", str(ca), "--cluster", "mycluster")
    pki = {host: site.host(host) / "etc" / "hpcq" / "pki" for host in HOSTS}
    certs("issue", "server", "ctld", "--dir", str(ca), "--out", str(pki["head"]), "--san", HEAD,
          "--san", "head.example.org")
    certs("issue", "admin", "root", "--dir", str(ca), "--out", str(site.host("head") / "root" / ".config" / "hpcq"))
    for node in ("node01", "node02"):
        certs("issue", "node", node, "--dir", str(ca), "--out", str(pki[node]))
    certs("issue", "host", "login01", "--dir", str(ca), "--out", str(pki["login01"]), "--basename", "agent")
    for directory in pki.values():
        shutil.copy(ca / "ca.crt", directory / "ca.crt")


def as_user(user: pwd.struct_passwd, action) -> object:
    """action() in a child process that has become `user` (the agent learns who from the kernel)."""
    import pickle
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            try:
                result = ("ok", action())
            except Exception as e:  # noqa: BLE001 - handed to the parent
                result = ("error", repr(e))
            os.write(write_end, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as r:
        data = r.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(f"as {user.pw_name}: {value}")
    return value


@pytest.fixture(scope="module")
def user() -> pwd.struct_passwd:
    return localusers.ensure(USER)[USER]


@pytest.fixture(scope="module")
def site(user) -> Iterator[Site]:
    net = Net(f"hq{os.getpid()}")
    base = Path(tempfile.mkdtemp(prefix="hpcq-hosts."))
    os.chmod(base, 0o711)  # jobs run as the user reach their spool files below
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    for name in ("HPCQ_CONF", "HPCQ_HOME", "HPCQ_AGENT_SOCKET"):
        env.pop(name, None)
    site = Site(net, base, env)
    try:
        try:
            net.build()
        except subprocess.CalledProcessError as e:
            pytest.skip(f"cannot build network namespaces here: {e.stderr.strip()}")
        issue_certificates(site, base / "ca")
        etc = {host: str(site.host(host) / "etc" / "hpcq") for host in HOSTS}
        install_config(site, "head", "head", replace={
            "/etc/hpcq": etc["head"], "/var/lib/hpcq": str(site.host("head") / "state"),
            "/root/.config/hpcq": str(site.host("head") / "root" / ".config" / "hpcq"),
            "head.example.org": HEAD, "heartbeat_interval = 10.0": "heartbeat_interval = 1.0",
            "node_timeout = 60.0": "node_timeout = 3.0"})
        for node in ("node01", "node02"):
            install_config(site, node, "compute", replace={
                "/etc/hpcq": etc[node], "/var/spool/hpcq": str(site.host(node) / "spool"),
                "/run/hpcq": str(site.host(node) / "run"), "head.example.org": HEAD, "node01": node})
        install_config(site, "login01", "login", replace={
            "/etc/hpcq": etc["login01"], "/run/hpcq": str(site.host("login01") / "run"), "head.example.org": HEAD})
        for host in HOSTS:
            result = subprocess.run([f"{BIN}/hpcqctl", "config", "check", str(site.conf(host))], capture_output=True,
                                    text=True, env=env, timeout=30)
            assert result.returncode == 0, result.stderr

        site.start("head", "hpcq-ctld")
        for node in ("node01", "node02"):
            site.start(node, "hpcq-noded", "--cpus", "2")
        site.start("login01", "hpcq-agent")
        sock = site.host("login01") / "run" / "agent.sock"
        wait_until(lambda: sock.exists(), timeout=20, what="the login node's agent socket")

        def nodes_up() -> bool:
            out = site.hpcqctl("node", "list", check=False).stdout
            return out.count(" idle ") == 2
        try:
            wait_until(nodes_up, timeout=20, what="both compute nodes to register over the bridge")
        except AssertionError as e:
            raise AssertionError("\n".join(f"--- {name}\n{site.log(*name.split('/'))}" for name in site.daemons)) from e
        site.socket = sock
        yield site
    finally:
        site.stop()
        net.destroy()
        shutil.rmtree(base, ignore_errors=True)


def submit(site: Site, user: pwd.struct_passwd, specs: list[jobs_pb2.JobSpec]) -> list[int]:
    def action() -> list[int]:
        with Client(AgentTransport(str(site.socket)), timeout=20) as client:
            return client.submit(specs)
    return as_user(user, action)


def job_spec(workdir: Path, script: str, cpus: int = 2, **fields) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="mh", script=f"#!/bin/sh\n{script}\n",
                            submit_dir=str(workdir), workdir=str(workdir), walltime_seconds=120,
                            resources=jobs_pb2.Resources(cpus_per_task=cpus), **fields)


@pytest.fixture
def workdir(site: Site, user: pwd.struct_passwd) -> Path:
    path = Path(tempfile.mkdtemp(dir=site.base, prefix="work."))
    os.chown(path, user.pw_uid, user.pw_gid)
    return path


def job_records(site: Site, ids: list[int]) -> dict[int, jobs_pb2.Job]:
    """Jobs as ctld has them, read on the head node with the admin certificate."""
    program = ("import sys; from hpcq.client import Client; from hpcq.api import jobs_pb2\n"
               "c = Client.from_config(use_agent=False)\n"
               f"jobs, _ = c.get({ids!r})\n"
               "sys.stdout.buffer.write(jobs_pb2.GetJobsResponse(jobs=jobs).SerializeToString())\n")
    result = subprocess.run(["ip", "netns", "exec", site.net.ns("head"), f"{BIN}/python", "-c", program],
                            capture_output=True, timeout=30, env={**site.env, "HPCQ_CONF": str(site.conf("head"))})
    assert result.returncode == 0, result.stderr.decode()
    return {j.id: j for j in jobs_pb2.GetJobsResponse.FromString(result.stdout).jobs}


def fetch_in(site: Site, host: str, url: str) -> str:
    program = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return subprocess.run(["ip", "netns", "exec", site.net.ns(host), f"{BIN}/python", "-c", program],
                          capture_output=True, text=True, check=True, timeout=30).stdout


def test_jobs_submitted_on_the_login_node_run_on_both_compute_nodes(site, user, workdir):
    started = time.monotonic()
    ids = submit(site, user, [job_spec(workdir, "hostname; id -un; sleep 1") for _ in range(4)])

    def finished() -> dict[int, jobs_pb2.Job] | None:
        records = job_records(site, ids)
        return records if all(j.state == S.COMPLETED for j in records.values()) else None
    records = wait_until(finished, timeout=30, interval=0.3, what="four jobs to complete")
    assert {j.allocation.slices[0].node for j in records.values()} == {"node01", "node02"}
    assert {j.user for j in records.values()} == {USER}
    for job_id in ids:
        assert (workdir / f"slurm-{job_id}.out").read_text().split()[1] == USER, "jobs run as their owner"
    assert time.monotonic() - started < 30
    # The head node's admin sees it all, with the scheduler figures from ctld's metrics.
    status = site.hpcqctl("status").stdout
    assert "jobs: completed 4" in status and "node01 idle, node02 idle" in status
    assert "ctld metrics (http://127.0.0.1:9817/metrics):" in status
    # Prometheus on the head node scrapes the compute nodes over the network, as the guide sets it up.
    for node in ("node01", "node02"):
        text = fetch_in(site, "head", f"http://{HOSTS[node]}:9818/metrics")
        assert f'hpcq_noded_info{{node="{node}",version=' in text and "hpcq_noded_connected 1.0" in text
        assert 'hpcq_noded_launches_total{outcome="started"}' in text


def test_a_node_whose_link_goes_down_fails_its_jobs_and_the_requeued_one_finishes_elsewhere(site, user, workdir):
    started = time.monotonic()
    # Both jobs on node01: node02 is drained while they start.
    site.hpcqctl("node", "drain", "node02", "--reason", "keep node01 busy")
    marker = workdir / "first-attempt"
    requeued, lost = submit(site, user, [
        job_spec(workdir, f"if [ -e {marker} ]; then echo second attempt; else touch {marker}; sleep 120; fi", cpus=1),
        job_spec(workdir, "sleep 120", cpus=1, requeue=False)])

    def both_running() -> bool:
        records = job_records(site, [requeued, lost])
        return all(j.state == S.RUNNING and j.session_id for j in records.values())
    wait_until(both_running, timeout=20, interval=0.2, what="both jobs to run on node01")
    assert {j.allocation.slices[0].node for j in job_records(site, [requeued, lost]).values()} == {"node01"}
    site.hpcqctl("node", "resume", "node02")

    sh("ip", "-n", site.net.ns("node01"), "link", "set", "eth0", "down")
    down_at = time.monotonic()

    def requeued_finished() -> dict[int, jobs_pb2.Job] | None:
        records = job_records(site, [requeued, lost])
        return records if records[requeued].state == S.COMPLETED else None
    records = wait_until(requeued_finished, timeout=30, interval=0.3, what="the requeued job to finish on node02")
    again, failed = records[requeued], records[lost]
    assert again.attempt == 2 and again.allocation.slices[0].node == "node02"
    assert (workdir / f"slurm-{requeued}.out").read_text().strip().endswith("second attempt")
    assert failed.state == S.NODE_FAIL and failed.attempt == 1
    assert failed.reason == "node node01 not responding"
    assert time.monotonic() - down_at < 20, "noticed within node_timeout (3 s) and a few passes"

    nodes = {line.split()[0]: line.split()[1] for line in site.hpcqctl("node", "list").stdout.splitlines()[1:]}
    assert nodes == {"node01": "down", "node02": "idle"}
    assert f"job {requeued}: node node01 not responding; requeued" in site.log("head", "hpcq-ctld")
    assert time.monotonic() - started < 40
