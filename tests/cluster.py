"""Real clusters for tests: hpcq.testing's (`hpcqctl up` in a private HPCQ_HOME, real
hpcq-ctld, hpcq-noded and hpcq-agent processes, real TLS, a real SQLite file or
PostgreSQL database), as the suite uses them."""
from __future__ import annotations

from pathlib import Path

from hpcq import testing

BIN = str(testing.commands_dir())


class Cluster(testing.Cluster):
    def client(self, admin: bool = False):  # hpcq.client.Client
        """The low-level client, as the cluster's owner: the suite reads the API's protobuf
        records (hpcq.Client, testing.Cluster's, wraps the same one)."""
        return self._lowlevel_client(admin=admin)


def start_cluster(home: Path, nodes: int = 2, cpus: int = 2, database: str = "",
                  settings: tuple[str, ...] = ()) -> Cluster:
    return Cluster.start(home, nodes=nodes, cpus=cpus, database=database, settings=settings)
