"""Store writes nobody waits for, owned: one queue, one consumer, failures logged and counted.

Most writes are awaited by the call that needs them durable (a submit is answered only
after its commit). Some are caused by a node's message, which needs no answer: a job's
start or end, a node's registration. Those go here instead of into a bare task whose
exception would vanish; each runs its follow-up (publish to watchers, forget on the
node) only once its rows are committed, in the order they were queued.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from hpcq import metrics
from hpcq.ctld.store.writer import Delete, Put, Store

log = logging.getLogger("hpcq.ctld.background")

Then = Callable[[], None]


class BackgroundWrites:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[tuple[Sequence[Put | Delete], Then | None]] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self.failures = 0

    def write(self, rows: Sequence[Put | Delete], then: Then | None = None) -> None:
        """Commit `rows` soon; then call `then` (not if the write failed)."""
        self._idle.clear()
        self._queue.put_nowait((rows, then))

    async def run(self) -> None:
        """The consumer: started once by ctld (and by tests that need it), never returns.
        Everything queued at once is committed together, then each follow-up runs."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self.store.write([row for rows, _ in batch for row in rows])
            except Exception:  # a failed write is logged and counted, the loop goes on
                self.failures += len(batch)
                metrics.BACKGROUND_WRITE_FAILURES.inc(len(batch))
                log.exception("store write of %d background change(s) failed", len(batch))
            else:
                for _, then in batch:
                    if then is not None:
                        then()
            if self._queue.empty():
                self._idle.set()

    async def drained(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        await self._idle.wait()
