"""Chaos: two hpcq-ctld on one PostgreSQL store, one active and one standby, each in a
network namespace of its own joined to this one by a bridge, as the multi-host test's
hosts are (without root, or without iproute2: on two loopback addresses, 127.0.0.2 and
127.0.0.3). The database is reached over its Unix socket. The active one is killed
(SIGKILL), then stopped (SIGSTOP): the standby is active within 10 s (printed), the running
job keeps running and ends once, the node registers with the new controller, queued jobs
start, and an sbatch loop sees no failure. The stopped controller, continued (SIGCONT),
neither writes nor sends: it exits saying it lost the lease, and the node never hears from
it again.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hpcq import config as configuration
from hpcq import private_files, states
from hpcq.api import jobs_pb2
from hpcq.client import Client
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until

pytestmark = pytest.mark.integration
S = jobs_pb2.JobState
TAKEOVER_LIMIT = 10.0


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Heads:
    """Where the two controllers run: a network namespace each (`prefix` runs a command
    there), or two loopback addresses of this one."""
    addresses: dict[str, str]
    prefix: dict[str, list[str]]
    namespaces: list[str] = field(default_factory=list)

    @classmethod
    def build(cls) -> Heads:
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return cls.loopback()
        tag = f"hs{os.getpid() % 100000}"
        subnet = f"10.{100 + os.getpid() % 100}.{os.getpid() // 100 % 250}"
        heads = cls({"a": f"{subnet}.1:6817", "b": f"{subnet}.2:6817"},
                    {name: ["ip", "netns", "exec", f"{tag}-{name}"] for name in ("a", "b")})
        try:
            heads._add(f"{tag}-hub")
            ip("-n", f"{tag}-hub", "link", "add", "br0", "type", "bridge")
            ip("-n", f"{tag}-hub", "link", "set", "br0", "up")
            for name, host in (("a", 1), ("b", 2)):
                heads._add(f"{tag}-{name}")
                ip("-n", f"{tag}-hub", "link", "add", f"v-{name}", "type", "veth", "peer", "name", "eth0", "netns",
                   f"{tag}-{name}")
                ip("-n", f"{tag}-hub", "link", "set", f"v-{name}", "master", "br0", "up")
                ip("-n", f"{tag}-{name}", "addr", "add", f"{subnet}.{host}/24", "dev", "eth0")
                ip("-n", f"{tag}-{name}", "link", "set", "eth0", "up")
            # This namespace (the node, the agent, the test) joins the bridge too.
            ip("link", "add", f"{tag}-t", "type", "veth", "peer", "name", "v-t", "netns", f"{tag}-hub")
            ip("-n", f"{tag}-hub", "link", "set", "v-t", "master", "br0", "up")
            ip("addr", "add", f"{subnet}.254/24", "dev", f"{tag}-t")
            ip("link", "set", f"{tag}-t", "up")
        except subprocess.CalledProcessError:
            heads.destroy()
            return cls.loopback()
        return heads

    @classmethod
    def loopback(cls) -> Heads:
        return cls({"a": f"127.0.0.2:{free_port('127.0.0.2')}", "b": f"127.0.0.3:{free_port('127.0.0.3')}"},
                   {"a": [], "b": []})

    def _add(self, name: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for name in reversed(self.namespaces):   # the veth pairs go with them
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True, timeout=30)


@dataclass
class Pair:
    """The cluster (its ctld is controller A, started by hpcqctl up) and controller B."""
    cluster: Cluster
    heads: Heads
    configs: dict[str, Path]
    pids: dict[str, int]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def start(self, name: str, log_name: str) -> None:
        """Start controller `name` (it waits as a standby while the other is active)."""
        log = self.cluster.home / "log" / f"{log_name}.log"
        self.logs[name] = log
        self.processes[name] = subprocess.Popen(
            [*self.heads.prefix[name], sys.executable, "-P", "-m", "hpcq.ctld.main", "-c", str(self.configs[name]),
             "--log-file", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.cluster.home,
            start_new_session=True)
        self.pids[name] = self.processes[name].pid

    @property
    def addresses(self) -> dict[str, str]:
        return self.heads.addresses

    def log(self, name: str) -> str:
        path = self.logs[name]
        return path.read_text() if path.exists() else ""   # not written yet

    def probe(self, name: str) -> Client:
        """An admin client of controller `name` alone, which does not retry."""
        config = configuration.apply_overrides(configuration.load(self.cluster.home / "hpcq.toml"),
                                               [f"client.server={self.addresses[name]!r}", "client.retry_seconds=0"])
        return Client.from_config(config, use_agent=False, timeout=2.0)

    def active(self, name: str) -> int:
        """The epoch of controller `name` if it answers, as the active one; else 0."""
        try:
            with self.probe(name) as client:
                info = client.server_info()
        except Exception:  # noqa: BLE001 - not answering (yet): a standby, or dead
            return 0
        return info.controllers[0].epoch if info.controllers and info.controllers[0].address == self.addresses[name] \
            else 0


@pytest.fixture(scope="module")
def pair(postgres, tmp_path_factory) -> Iterator[Pair]:
    home = Path(tmp_path_factory.mktemp("hpcq-standby"))
    postgres.create_database("standby_pair")
    # Over PostgreSQL's Unix socket, which every network namespace of this host reaches.
    url = f"postgresql+psycopg://hpcq@/standby_pair?host={postgres.dir}&port={postgres.port}"
    heads = Heads.build()
    try:
        yield from run_pair(home, url, heads)
    finally:
        heads.destroy()


def run_pair(home: Path, url: str, heads: Heads) -> Iterator[Pair]:
    a, b = heads.addresses["a"], heads.addresses["b"]
    # hpcqctl up starts the cluster with its ctld in this namespace; in namespaces, A then
    # moves into its own.
    first = Heads.loopback().addresses["a"] if heads.namespaces else a
    servers = ",".join(dict.fromkeys([first, a, b]))
    cluster = start_cluster(home, nodes=1, cpus=4, database=url, settings=(
        f"ctld.listen={first!r}", f"ctld.advertise={first!r}",
        f"noded.server={servers!r}", f"agent.server={servers!r}", f"client.server={servers!r}",
        # ctld's certificate names this host as localhost and 127.0.0.1, not these addresses.
        "noded.server_name='localhost'", "agent.server_name='localhost'", "client.server_name='localhost'",
        "ctld.heartbeat_interval=1", "ctld.node_timeout=30", "ctld.sched_interval=1"))
    pids = {"a": int((home / "run" / "ctld.pid").read_text())}
    if heads.namespaces:
        cluster.run("hpcqctl", "down")
        pids = {}
        servers = f"{a},{b}"
        config = configuration.apply_overrides(configuration.load(home / "hpcq.toml"), [
            f"ctld.listen={a!r}", f"ctld.advertise={a!r}", f"noded.server={servers!r}", f"agent.server={servers!r}",
            f"client.server={servers!r}"])
        private_files.write_file(home / "hpcq.toml", configuration.dump(config).encode())
    config_b = home / "ctld-b.toml"
    state_b = home / "ctld-b"
    private_files.make_dir(state_b)
    config = configuration.apply_overrides(configuration.load(home / "hpcq.toml"), [
        f"ctld.listen={b!r}", f"ctld.advertise={b!r}", f"ctld.state_dir={str(state_b)!r}"])
    private_files.write_file(config_b, configuration.dump(config).encode())
    pair = Pair(cluster, heads, {"a": home / "hpcq.toml", "b": config_b}, pids=pids,
                logs={"a": home / "log" / "ctld.log"})
    try:
        if heads.namespaces:
            # A in its namespace, its pid where hpcqctl looks for ctld's; then the node and the agent again.
            pair.start("a", "ctld-a")
            private_files.write_file(home / "run" / "ctld.pid", f"{pair.pids['a']}\n".encode())
            wait_until(lambda: pair.active("a"), timeout=30, what="controller A to serve in its namespace")
            cluster.run("hpcqctl", "up", "--nodes", "1", "--cpus", "4")
        pair.start("b", "ctld-b")
        wait_until(lambda: "standby" in pair.log("b"), timeout=30, what="controller B to wait as a standby")
        yield pair
    finally:
        cluster.run("hpcqctl", "down", check=False)   # first the node, whose stream a ctld would wait for
        for process in pair.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


class SubmitLoop:
    """sbatch, again and again through the agent, as a user's script would submit, all along."""

    def __init__(self, cluster: Cluster, workdir: Path) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.ids: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> SubmitLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            done = self.cluster.run("sbatch", "--parsable", "-o", "/dev/null", "-J", "loop", "--wrap", "true",
                                    cwd=self.workdir, check=False, timeout=120)
            if done.returncode == 0:
                self.ids.append(int(done.stdout.split(";")[0]))
            else:
                self.failures.append(done.stderr)

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def long_job(workdir: Path, ledger: Path, seconds: int) -> jobs_pb2.JobSpec:
    """Writes one line when it starts and one when it ends: a job run twice shows it."""
    return jobs_pb2.JobSpec(dialect=jobs_pb2.DIALECT_SLURM, name="long", submit_dir=str(workdir),
                            script=f"#!/bin/sh\necho start >> {ledger}\nsleep {seconds}\necho end >> {ledger}\n")


def jobs_of(cluster: Cluster, ids: list[int]) -> dict[int, jobs_pb2.Job]:
    with cluster._lowlevel_client(admin=True) as client:
        jobs, unknown = client.get(ids)
    assert not unknown
    return {j.id: j for j in jobs}


def takeover(pair: Pair, gone: str, new: str, stop: signal.Signals, workdir: Path, what: str) -> tuple[float, int]:
    """Signal the active controller `gone` while a job runs and jobs are being submitted;
    returns the seconds until `new` is active, and the epoch it took over from. Checks the
    run and the loop's jobs."""
    cluster = pair.cluster
    epoch = pair.active(gone)
    assert epoch
    ledger = workdir / f"ledger-{what}"
    with cluster._lowlevel_client(admin=True) as client:
        [running] = client.submit([long_job(workdir, ledger, 12)])
        wait_until(lambda: ledger.exists(), timeout=30, what="the long job to start")
        with SubmitLoop(cluster, workdir) as loop:
            wait_until(lambda: len(loop.ids) >= 3, timeout=30, what="the submit loop to get going")
            os.kill(pair.pids[gone], stop)
            signalled = time.monotonic()
            wait_until(lambda: pair.active(new), timeout=30, interval=0.1, what=f"controller {new} to take over")
            seconds = time.monotonic() - signalled
            print(f"\n[standby] {what}: controller {new} active {seconds:.1f} s after {stop.name} of {gone}")
            submitted = len(loop.ids)
            wait_until(lambda: len(loop.ids) >= submitted + 3, timeout=60, what="submits after the takeover")
        assert loop.failures == []
        assert len(set(loop.ids)) == len(loop.ids)

        def finished() -> bool:
            return all(states.is_finished(j.state) for j in jobs_of(cluster, [running, *loop.ids]).values())
        wait_until(finished, timeout=60, interval=0.5, what="the long job and the loop's jobs to end")
    records = jobs_of(cluster, [running, *loop.ids])
    assert {j.state for j in records.values()} == {S.COMPLETED}, [
        (j.id, S.Name(j.state), j.reason, j.exit_code) for j in records.values() if j.state != S.COMPLETED]
    assert records[running].attempt == 1, "the running job kept running: not requeued"
    assert ledger.read_text().split() == ["start", "end"], "it ran once"
    assert all(j.attempt == 1 for j in records.values())
    assert pair.active(new) == epoch + 1
    return seconds, epoch


def test_the_standby_takes_over_from_a_killed_controller(pair, tmp_path):
    os.chmod(tmp_path, 0o755)
    assert pair.active("a") and not pair.active("b")
    seconds, old = takeover(pair, "a", "b", signal.SIGKILL, tmp_path, "SIGKILL")
    assert seconds < TAKEOVER_LIMIT
    # Both run on this host: B knows A's process has ended and need not wait for its lease.
    assert (f"active: {pair.addresses['b']} took over from {pair.addresses['a']} (epoch {old}), whose process had "
            f"ended, epoch {old + 1}") in pair.log("b")
    assert f"registered with {pair.addresses['b']} as node1 (controller epoch {old + 1})" in pair.cluster.log("node1")
    out = pair.cluster.run("hpcqctl", "status").stdout
    assert f"controllers: {pair.addresses['b']} active since " in out and f"(epoch {old + 1})" in out


def test_a_stopped_controller_is_replaced_and_fenced_when_it_continues(pair, tmp_path):
    os.chmod(tmp_path, 0o755)
    pair.start("a", "ctld-a2")   # A again, now the standby
    wait_until(lambda: "standby" in pair.log("a"), timeout=30, what="controller A to wait as a standby")
    wait_until(lambda: f"{pair.addresses['a']} standby since" in pair.cluster.run("hpcqctl", "status").stdout,
               timeout=10, what="hpcqctl status to list A as a standby")
    seconds, old = takeover(pair, "b", "a", signal.SIGSTOP, tmp_path, "SIGSTOP")
    assert seconds < TAKEOVER_LIMIT
    assert f"active: {pair.addresses['a']} took over from {pair.addresses['b']} (epoch {old}), epoch {old + 1}" \
        in pair.log("a")
    node_log_at_takeover = len(pair.cluster.log("node1"))
    os.kill(pair.pids["b"], signal.SIGCONT)
    assert pair.processes["b"].wait(timeout=30) == 1
    assert f"lost the controller lease (epoch {old})" in pair.log("b")
    assert "stopping without writing or sending anything more" in pair.log("b")
    after = pair.cluster.log("node1")[node_log_at_takeover:]
    assert f"registered with {pair.addresses['b']}" not in after
    assert f"registered with {pair.addresses['a']} as node1 (controller epoch {old + 1})" in pair.cluster.log("node1")
    out = pair.cluster.run("hpcqctl", "status").stdout
    assert f"controllers: {pair.addresses['a']} active since " in out and f"(epoch {old + 1})" in out
    assert "last takeover: 20" in out
