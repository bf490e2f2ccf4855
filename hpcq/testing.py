"""A real hpcq cluster for tests: test your Slurm or PBS integration in a pip install.

    from hpcq.testing import local_cluster

    with local_cluster(nodes=2) as cluster:      # hpcq-ctld, 2 hpcq-noded, an agent
        out = subprocess.run(["sbatch", "--wrap", "hostname"], capture_output=True, text=True)
        cluster.run("squeue")                    # or through the helper: raises if it fails
        with cluster.client() as client:         # the SDK, as you
            ...

It is what `hpcqctl up` makes (hpcq/ctl/local.py) in a temporary HPCQ_HOME: real
processes, real TLS, a SQLite store. While it runs, the interpreter's environment names
it (HPCQ_HOME) and has hpcq's commands (sbatch, squeue, qsub, qstat, ...) first on PATH,
so code under test that runs `sbatch` reaches it; on exit the jobs still there are
cancelled, the daemons stopped, the directory removed and the environment restored.

Under pytest the `hpcq_cluster` fixture (session-scoped) is the same thing, registered
by installing hpcq (the plugin named `hpcq`; see hpcq/_pytest_plugin.py).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Self

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hpcq import client as lowlevel
    from hpcq._sdk import Client

__all__ = ["Cluster", "CommandFailed", "commands_dir", "local_cluster"]

# Variables that would point the commands at another cluster than this one.
_OTHER_CLUSTER = ("HPCQ_CONF", "HPCQ_AGENT_SOCKET")
# Jobs still unfinished when a cluster stops get this long to end once cancelled.
STOP_TIMEOUT = 10.0


class CommandFailed(AssertionError):
    """A command run with check=True exited with a non-zero status. An AssertionError, so
    that pytest reports it as a failed test, with the command's output."""

    def __init__(self, argv: tuple[str, ...], result: subprocess.CompletedProcess[str], more: str = "") -> None:
        super().__init__(f"{' '.join(argv)} exited {result.returncode}\nstdout: {result.stdout}\n"
                         f"stderr: {result.stderr}{more}")
        self.result = result


def commands_dir() -> Path:
    """The directory of hpcq's commands (hpcqctl, sbatch, qsub...) for this interpreter:
    its scripts directory, the user scheme's (pip install --user), or its own."""
    candidates = [sysconfig.get_path("scripts"), sysconfig.get_path("scripts", f"{os.name}_user"),
                  os.path.dirname(sys.executable)]
    for directory in candidates:
        if os.access(os.path.join(directory, "hpcqctl"), os.X_OK):
            return Path(directory)
    raise FileNotFoundError(f"hpcq's commands are not installed for {sys.executable}: no hpcqctl in "
                            + ", ".join(dict.fromkeys(candidates)))


@dataclass
class Cluster:
    """A running local cluster: its HPCQ_HOME, and the environment its commands need."""

    home: Path
    #: os.environ with HPCQ_HOME naming this cluster and hpcq's commands first on PATH.
    env: dict[str, str]

    @classmethod
    def start(cls, home: Path, *, nodes: int = 2, cpus: int = 2, memory_mb: int = 0, database: str = "",
              settings: tuple[str, ...] = ()) -> Self:
        """`hpcqctl up` in `home`; returns once ctld answers and every node is connected.
        cpus and memory_mb: what each node offers (0: what the machine has); database: a
        store URL (empty: SQLite in home); settings: config overrides, "ctld.sched_interval=1"."""
        env = {k: v for k, v in os.environ.items() if k not in _OTHER_CLUSTER}
        env.update(HPCQ_HOME=str(home), PATH=os.pathsep.join([str(commands_dir()), os.environ.get("PATH", "")]))
        cluster = cls(Path(home), env)
        argv = ["hpcqctl", "up", "--nodes", str(nodes), "--cpus", str(cpus), "--memory", str(memory_mb),
                "--database", database, *(f"--set={s}" for s in settings)]
        result = cluster.run(*argv, check=False)
        if result.returncode != 0:
            # The home may be a temporary directory about to go: say what the daemons said.
            logs = cluster._log_tails()
            cluster.run("hpcqctl", "down", check=False)
            raise CommandFailed(tuple(argv), result, logs)
        return cluster

    def run(self, *argv: str, input: str | None = None, cwd: Path | str | None = None, check: bool = True,
            env: dict[str, str] | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a command (a shim, hpcqctl) against this cluster; with check, CommandFailed
        if it exits non-zero."""
        result = subprocess.run(list(argv), input=input, capture_output=True, text=True, cwd=cwd,
                                env={**self.env, **(env or {})}, timeout=timeout)
        if check and result.returncode != 0:
            raise CommandFailed(argv, result)
        return result

    def client(self, *, admin: bool = False) -> Client:
        """The SDK (hpcq.Client) as the cluster's owner: through the agent as a user, or with
        the admin certificate."""
        from hpcq._sdk import Client
        return Client._over(self._lowlevel_client(admin=admin))

    def _lowlevel_client(self, *, admin: bool = False, timeout: float = 60.0) -> lowlevel.Client:
        from hpcq import config
        from hpcq.client import Client
        return Client.from_config(config.load(self.home / "hpcq.toml"), use_agent=not admin, timeout=timeout)

    def log(self, daemon: str) -> str:
        """What a daemon (ctld, agent, node1...) logged."""
        return (self.home / "log" / f"{daemon}.log").read_text()

    def stop(self) -> None:
        """Cancel the jobs still queued or running, then stop the daemons."""
        from hpcq.errors import HpcqError
        try:
            with self._lowlevel_client(admin=True, timeout=STOP_TIMEOUT) as client:
                unfinished = [job.id for job in client.list()]
                if unfinished:
                    client.cancel(unfinished)
                    client.wait(unfinished, timeout=STOP_TIMEOUT)
        except (HpcqError, TimeoutError, OSError):
            pass   # a ctld that is gone, or jobs slow to die: stopping the daemons is what matters now
        self.run("hpcqctl", "down", check=False)

    def _log_tails(self, lines: int = 20) -> str:
        tails = []
        for path in sorted((self.home / "log").glob("*.*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            if text:
                tails.append(f"\n--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "".join(tails)


@contextmanager
def local_cluster(*, nodes: int = 2, cpus: int = 2, memory_mb: int = 0, database: str = "",
                  settings: tuple[str, ...] = (), home: Path | str | None = None,
                  activate: bool = True) -> Iterator[Cluster]:
    """A local cluster for the duration of the block (see Cluster.start for the options).

    home: where it keeps its state (default: a new temporary directory, removed at the
    end; a given one is kept). activate: point this process's environment at it (HPCQ_HOME,
    PATH) while it runs, restoring it afterwards; without, use `cluster.env`.
    """
    temporary = home is None
    # Short: the agent's Unix socket lives under it, and socket paths are limited to ~100 bytes.
    where = Path(tempfile.mkdtemp(prefix="hpcq-")) if home is None else Path(home)
    try:
        cluster = Cluster.start(where, nodes=nodes, cpus=cpus, memory_mb=memory_mb, database=database,
                                settings=settings)
        try:
            with _environment(cluster.env) if activate else nullcontext():
                yield cluster
        finally:
            cluster.stop()
    finally:
        if temporary:
            shutil.rmtree(where, ignore_errors=True)


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    names = ("HPCQ_HOME", "PATH", *_OTHER_CLUSTER)
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        if name in env:
            os.environ[name] = env[name]
        else:
            os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
