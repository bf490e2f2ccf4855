"""Store writes nobody waits for, owned: one queue, one consumer, failures logged and counted.

Most writes are awaited by the call that needs them durable (a submit is answered only
after its commit). Some are caused by a node's message, which needs no answer: a job's
start or end, a node's registration. Those go here instead of into a bare task whose
exception would vanish; each runs its follow-up (publish to watchers, forget on the
node) only once its rows are committed, in the order they were queued.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Sequence

from hpcq import metrics
from hpcq.ctld.store.writer import Delete, Put, Store

log = logging.getLogger("hpcq.ctld.background")

Then = Callable[[], None]


class BackgroundWrites:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[tuple[concurrent.futures.Future[None], Then | None]] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self.failures = 0
        self._logged: BaseException | None = None

    def write(self, rows: Sequence[Put | Delete], then: Then | None = None) -> None:
        """Commit `rows` soon; then call `then` (not if the write failed). The rows join
        the store's queue now, in order with every other write: held back here, a job's
        row could land after a later awaited write of the same job (its requeue after
        its next start) and leave the store behind what its node was told."""
        self._idle.clear()
        self._queue.put_nowait((self.store.enqueue(rows), then))

    async def run(self) -> None:
        """The consumer: started once by ctld (and by tests that need it), never returns.
        Runs each follow-up once its rows are committed, in the order they were queued."""
        while True:
            committed, then = await self._queue.get()
            try:
                if not committed.done():
                    await asyncio.wrap_future(committed)
                committed.result()
            except Exception as e:  # a failed write is logged and counted, the loop goes on
                self.failures += 1
                metrics.BACKGROUND_WRITE_FAILURES.inc()
                if e is not self._logged:   # the writes of one failed commit share its error: logged once
                    self._logged = e
                    log.exception("store write of background changes failed")
            else:
                if then is not None:
                    then()
            if self._queue.empty():
                self._idle.set()

    async def drained(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        await self._idle.wait()
