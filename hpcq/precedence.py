"""Which calls go first when ctld or an agent is polled hard.

A storm of squeue/qstat polls keeps a daemon's one event loop busy with reads whose answer
grows with the queue. Other calls (a submit, a cancel, a node's report) are few and short,
and someone is waiting for each: they take precedence. A queued read that is about to
start, or between slices of its work, stands aside while any other call is under way (a
submit awaiting its commit would otherwise share the interpreter lock with it), for a
bounded time, so that a read is never starved by a flood of submits either."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# Reads whose answer grows with the queue (squeue's, qstat's, sinfo's, pbsnodes').
QUEUED_READS = frozenset({"/hpcq.v1.Jobs/List", "/hpcq.v1.Jobs/Get", "/hpcq.v1.Admin/ListNodes"})
STAND_ASIDE_SECONDS = 0.05   # the longest a queued read waits for other calls under way


class Precedence:
    def __init__(self, bound: float = STAND_ASIDE_SECONDS) -> None:
        self.bound = bound
        self.others_in_flight = 0
        self._no_others = asyncio.Event()
        self._no_others.set()

    @contextmanager
    def other_call(self) -> Iterator[None]:
        """Around a call that is not a queued read."""
        self.others_in_flight += 1
        self._no_others.clear()
        try:
            yield
        finally:
            self.others_in_flight -= 1
            if not self.others_in_flight:
                self._no_others.set()

    async def stand_aside(self) -> None:
        """Before a queued read starts, and between the slices of its work: a turn of the
        loop, then until no other call is under way, or the bound."""
        await asyncio.sleep(0)
        if self.others_in_flight:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.bound):
                    await self._no_others.wait()
