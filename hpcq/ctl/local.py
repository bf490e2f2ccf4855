"""`hpcqctl up | down | status`: a personal cluster on this machine.

Everything lives in $HPCQ_HOME (default ~/.local/state/hpcq): the CA and certificates,
hpcq.toml (which every shim then finds), the SQLite database, spools, logs and pid
files. `up` is idempotent: it starts whatever part is not running.
"""
from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from hpcq import config as configuration
from hpcq import pki, private_files

START_TIMEOUT = 30.0


class LocalCluster:
    def __init__(self, home: Path | None = None) -> None:
        self.home = home or configuration.hpcq_home()
        self.pki = self.home / "pki"
        self.conf_path = self.home / "hpcq.toml"
        self.logs = self.home / "log"
        self.run = self.home / "run"

    # -- files ------------------------------------------------------------------------

    def ensure_files(self, nodes: int, database: str = "", overrides: list[str] = ()) -> configuration.Config:
        # Private (0700): logs, and pki (made by init_ca). Traversable, not listable (0711):
        # the way to the agent's socket and to each job's spool files, which jobs of other
        # users reach. Files: 0600 (the config names the database, perhaps with a password;
        # users reach the cluster through the agent without it).
        for d, mode in ((self.home, private_files.TRAVERSABLE_DIR), (self.logs, private_files.PRIVATE_DIR),
                        (self.run, private_files.TRAVERSABLE_DIR),
                        (self.home / "spool", private_files.TRAVERSABLE_DIR)):
            private_files.make_dir(d, mode)
        config = configuration.load(self.conf_path) if self.conf_path.exists() else self._new_config(database)
        if not (self.pki / "ca.key").exists():
            pki.init_ca(self.pki, config.cluster.name)
        if not (self.pki / "ctld.crt").exists():
            pki.issue(self.pki, "server", "ctld", self.pki, basename="ctld")
        if not (self.pki / "client.crt").exists():
            # The owner of a personal cluster administers it too.
            pki.issue(self.pki, "admin", getpass.getuser(), self.pki, basename="client")
        if not (self.pki / "agent.crt").exists():
            pki.issue(self.pki, "host", socket.gethostname().split(".")[0], self.pki, basename="agent")
        for name in self.node_names(nodes):
            if not (self.pki / f"{name}.crt").exists():
                pki.issue(self.pki, "node", name, self.pki)
        if overrides:
            config = configuration.apply_overrides(config, list(overrides))
        if overrides or not self.conf_path.exists():
            private_files.write_file(self.conf_path, configuration.dump(config).encode())
        return configuration.load(self.conf_path)

    def _new_config(self, database: str) -> configuration.Config:
        config = configuration.Config()
        config.ctld.database = database
        config.cluster.name = socket.gethostname().split(".")[0]
        address = f"127.0.0.1:{_free_port()}"
        ca = str(self.pki / "ca.crt")
        config.client.server, config.client.ca = address, ca
        config.client.cert, config.client.key = str(self.pki / "client.crt"), str(self.pki / "client.key")
        config.ctld.listen, config.ctld.state_dir, config.ctld.ca = address, str(self.home), ca
        config.ctld.cert, config.ctld.key = str(self.pki / "ctld.crt"), str(self.pki / "ctld.key")
        config.noded.server, config.noded.ca = address, ca
        config.noded.spool_dir = str(self.home / "spool")
        config.noded.tmp_dir = "/tmp"
        agent = config.agent
        agent.socket = config.client.agent_socket = str(self.run / "agent.sock")
        agent.server, agent.ca = address, ca
        agent.cert, agent.key = str(self.pki / "agent.crt"), str(self.pki / "agent.key")
        # The cluster's owner uses it through the agent, whoever the owner is; a cluster root
        # started is root's to administer, as Slurm lets root act on every job.
        root = os.geteuid() == 0
        agent.allow_root = config.ctld.agents_may_assert_root = config.ctld.root_is_admin = root
        config.noded.allow_root_jobs = root
        # One user owns a personal cluster: no neighbour to protect from its polling.
        agent.rate, agent.burst = 10_000.0, 10_000
        return config

    @staticmethod
    def node_names(count: int) -> list[str]:
        return [f"node{i}" for i in range(1, count + 1)]

    def pid_file(self, daemon: str) -> Path:
        return self.run / f"{daemon}.pid"

    def running_pid(self, daemon: str) -> int | None:
        """The pid in daemon's pid file if that process is alive and is hpcq's."""
        try:
            pid = int(self.pid_file(daemon).read_text())
            proc = Path(f"/proc/{pid}")
            cmdline = (proc / "cmdline").read_bytes()
            # Only a process with no command line (yet) needs a second look.
            stat, exe = ("", "") if cmdline else ((proc / "stat").read_text(), os.readlink(proc / "exe"))
        except (OSError, ValueError):
            return None
        return pid if is_hpcq_process(cmdline, stat, exe) else None

    def daemons(self) -> list[str]:
        return sorted(p.stem for p in self.run.glob("*.pid"))

    # -- processes --------------------------------------------------------------------

    def _spawn(self, daemon: str, argv: list[str]) -> int:
        # The daemon rotates <daemon>.log itself; <daemon>.out keeps only what it prints
        # before logging starts (a config error, a crash's traceback).
        out = os.fdopen(private_files.open_file(self.logs / f"{daemon}.out", os.O_WRONLY | os.O_APPEND), "ab")
        argv = [*argv, "--log-file", str(self.logs / f"{daemon}.log")]
        # -P: the current directory must not shadow the installed package.
        process = subprocess.Popen([sys.executable, "-P", "-m", *argv], stdin=subprocess.DEVNULL, stdout=out,
                                   cwd=self.home, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        private_files.write_file(self.pid_file(daemon), f"{process.pid}\n".encode())
        return process.pid

    def up(self, nodes: int, cpus: int = 0, memory_mb: int = 0, database: str = "",
           overrides: list[str] = ()) -> list[str]:
        """Start what is not running; return what was started. `database` applies to a new
        cluster; `overrides` (section.key=value) are written into its config first."""
        config = self.ensure_files(nodes, database, overrides)
        started = []
        if self.running_pid("ctld") is None:
            self._spawn("ctld", ["hpcq.ctld.main", "-c", str(self.conf_path)])
            started.append("ctld")
        if self.running_pid("agent") is None:
            self._spawn("agent", ["hpcq.noded.hostagent", "-c", str(self.conf_path)])
            started.append("agent")
        for index, name in enumerate(self.node_names(nodes)):
            if self.running_pid(name) is None:
                argv = ["hpcq.noded.main", "-c", str(self.conf_path), "--name", name,
                        "--cert", str(self.pki / f"{name}.crt"), "--key", str(self.pki / f"{name}.key"),
                        "--spool", str(self.home / "spool" / name)]
                if config.noded.metrics_listen:
                    argv += ["--metrics-listen", node_metrics_listen(config.noded.metrics_listen, index)]
                if cpus:
                    argv += ["--cpus", str(cpus)]
                if memory_mb:
                    argv += ["--memory", str(memory_mb)]
                self._spawn(name, argv)
                started.append(name)
        self.wait_ready(config, self.node_names(nodes))
        return started

    def wait_ready(self, config: configuration.Config, nodes: list[str]) -> None:
        """Return once ctld answers and every node is connected, or raise TimeoutError."""
        from hpcq.client import Client
        from hpcq.errors import HpcqError

        deadline = time.monotonic() + START_TIMEOUT
        last = "ctld did not answer"
        with Client.from_config(config, timeout=2.0, use_agent=False) as client:
            while time.monotonic() < deadline:
                for daemon in ["ctld", "agent", *nodes]:
                    if self.running_pid(daemon) is None:
                        raise RuntimeError(f"{daemon} exited; see {self.logs / daemon}.log and .out")
                try:
                    connected = {n.name for n in client.nodes() if n.connected}
                    missing = [n for n in nodes if n not in connected]
                    if not missing and Path(config.agent.socket).exists():
                        return
                    last = f"nodes not connected yet: {', '.join(missing)}"
                except HpcqError as e:
                    last = f"ctld: {e.message}"
                time.sleep(0.05)
        raise TimeoutError(f"local cluster not ready after {START_TIMEOUT:.0f} s: {last}")

    def down(self, timeout: float = 10.0) -> list[str]:
        """Stop every daemon (noded first); jobs' supervisors are left to finish."""
        daemons = sorted(self.daemons(), key=lambda d: d == "ctld")
        stopped = []
        for daemon in daemons:
            pid = self.running_pid(daemon)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                stopped.append((daemon, pid))
        deadline = time.monotonic() + timeout
        for _, pid in stopped:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for daemon in daemons:
            self.pid_file(daemon).unlink(missing_ok=True)
        return [d for d, _ in stopped]


def node_metrics_listen(listen: str, index: int) -> str:
    """The metrics address of the index-th (from 0) node daemon of a local cluster: they
    share one config, so node k takes [noded] metrics_listen's port + k."""
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + index}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_hpcq_process(cmdline: bytes, stat: str, exe: str) -> bool:
    """Whether a process (its /proc cmdline, stat and, when cmdline is empty, exe link) is
    one of hpcq's daemons. A process just spawned shows no command line for a moment while
    its exec finishes (the kernel sets it after the point at which Popen returns; a loaded
    machine made `hpcqctl up` say a node it had just started had exited); a zombie shows
    none for good."""
    if cmdline:
        return b"hpcq" in cmdline
    state = stat.rpartition(")")[2].split()[:1]
    return state not in (["Z"], ["X"]) and os.path.realpath(exe) == os.path.realpath(sys.executable)
