"""A Controller on a real SQLite store in a test's directory, loaded as ctld loads it."""
from __future__ import annotations

import asyncio
from pathlib import Path

from hpcq.config import Config
from hpcq.ctld.state import Controller
from hpcq.ctld.store.writer import Store


def make(tmp_path: Path, **ctld: object) -> tuple[Controller, Store]:
    """`ctld` sets keys of the [ctld] section, e.g. retry_backoff=0."""
    config = Config()
    config.ctld.state_dir = str(tmp_path)
    for key, value in ctld.items():
        setattr(config.ctld, key, value)
    store = Store(f"sqlite:///{tmp_path / 'hpcq.db'}")
    controller = Controller(config, store)
    asyncio.run(store.write(controller.load(store.open())))
    return controller, store
