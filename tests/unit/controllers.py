"""A Controller on a real SQLite store in a test's directory, loaded as ctld loads it;
and a NodeComm that records what the controller would send."""
from __future__ import annotations

import asyncio
from pathlib import Path

from hpcq.api import nodes_pb2
from hpcq.config import Config
from hpcq.ctld.clock import Clock
from hpcq.ctld.comm import NodeComm
from hpcq.ctld.controller import Controller
from hpcq.ctld.store.writer import Store


class RecordingComm(NodeComm):
    """Keeps what would have been sent, by node, instead of sending it."""

    def __init__(self) -> None:
        super().__init__(lambda _: None)
        self.sent: list[tuple[str, nodes_pb2.CtldMessage]] = []
        self.forgotten: list[tuple[str, int, int]] = []

    def send(self, node: str, message: nodes_pb2.CtldMessage) -> bool:
        self.sent.append((node, message))
        return True

    def forget(self, node: str, job_id: int, attempt: int) -> None:
        self.forgotten.append((node, job_id, attempt))

    def kinds(self) -> list[tuple[str, str]]:
        """(node, message kind) of everything sent, in order; cleared."""
        kinds = [(node, m.WhichOneof("kind")) for node, m in self.sent]
        self.sent.clear()
        return kinds


def make(tmp_path: Path, *, clock: Clock | None = None, comm: NodeComm | None = None,
         **ctld: object) -> tuple[Controller, Store]:
    """`ctld` sets keys of the [ctld] section, e.g. retry_backoff=0."""
    config = Config()
    config.ctld.state_dir = str(tmp_path)
    for key, value in ctld.items():
        setattr(config.ctld, key, value)
    store = Store(f"sqlite:///{tmp_path / 'hpcq.db'}")
    controller = Controller(config, store, clock=clock, comm=comm)
    asyncio.run(store.write(controller.load(store.open())))
    return controller, store
