"""Real clusters for tests: `hpcqctl up` in a private HPCQ_HOME, real hpcq-ctld,
hpcq-noded and hpcq-agent processes, real TLS, a real SQLite file or PostgreSQL database."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = str(Path(sys.executable).parent)


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]

    def run(self, *argv: str, input: str | None = None, cwd: Path | str | None = None,
            check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a real command (a shim, hpcqctl) against this cluster."""
        result = subprocess.run(list(argv), input=input, capture_output=True, text=True, cwd=cwd,
                                env={**self.env, **(env or {})}, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}\nstdout: {result.stdout}\n"
                                 f"stderr: {result.stderr}")
        return result

    def client(self, admin: bool = False):
        """The SDK as the cluster's owner: through the agent (a user), or with the admin certificate."""
        from hpcq import config
        from hpcq.client import Client
        return Client.from_config(config.load(self.home / "hpcq.toml"), use_agent=not admin)

    def log(self, daemon: str) -> str:
        return (self.home / "log" / f"{daemon}.log").read_text()


def start_cluster(home: Path, nodes: int = 2, cpus: int = 2, database: str = "", settings: tuple[str, ...] = ()) -> Cluster:
    env = {**os.environ, "HPCQ_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("HPCQ_CONF", None)
    env.pop("HPCQ_AGENT_SOCKET", None)
    cluster = Cluster(home, env)
    cluster.run("hpcqctl", "up", "--nodes", str(nodes), "--cpus", str(cpus), "--database", database,
                *(f"--set={s}" for s in settings))
    return cluster
