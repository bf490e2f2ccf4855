"""Tasks a daemon starts for their effect alone: each kept until it ends (the event loop
keeps only a weak reference to a task), and a failure logged instead of lost."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


class Supervised:
    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)

        def ended(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            if not done.cancelled() and done.exception() is not None:
                self._log.error("%s failed", what, exc_info=done.exception())
        task.add_done_callback(ended)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
