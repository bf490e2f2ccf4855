"""Which calls go first when ctld or an agent is polled hard.

A storm of squeue/qstat polls keeps a daemon's one event loop busy with reads whose answer
grows with the queue. Other calls (a submit, a cancel, a node's report) are few and short,
and someone is waiting for each: they take precedence. A queued read that is about to
start, or between slices of its work, stands aside while any other call is under way (a
submit awaiting its commit would otherwise share the interpreter lock with it), for a
bounded time, so that a read is never starved by a flood of submits either."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# Reads whose answer grows with the queue (squeue's, qstat's, sinfo's, pbsnodes').
QUEUED_READS = frozenset({"/hpcq.v1.Jobs/List", "/hpcq.v1.Jobs/Get", "/hpcq.v1.Admin/ListNodes"})
STAND_ASIDE_SECONDS = 0.05   # the longest a queued read waits for other calls under way
# A long piece of work (a listing) lets the loop turn between its slices, and at least every
# HOLD_SECONDS the turn is a real wait, if a short one: grpc hands a call that has come in (its
# headers, then its message) to the loop from a thread of its own, and a loop going straight
# from one ready slice to the next (asyncio.sleep(0) polls without waiting) let a submit wait
# out a whole listing. epoll waits in whole milliseconds: the wait lasts up to 1 ms, and ends
# as soon as anything comes. Measured under bench/storm.py: a submit's wait to reach its
# handler, p99 6-8 ms -> 3-4 ms; an idle List of 10,000 jobs, 93 -> 112 ms.
TURN_SECONDS = 0.0001
HOLD_SECONDS = 0.002   # (every turn a wait: another user's squeue under the storm, p99 160 -> 300 ms)


class _Turns:
    waited_at = 0.0   # when the loop last waited in a turn given up


async def next_turn() -> None:
    """A turn of the loop: whatever else is ready, or about to be, runs first."""
    if time.perf_counter() - _Turns.waited_at < HOLD_SECONDS:
        await asyncio.sleep(0)
        return
    await asyncio.sleep(TURN_SECONDS)
    _Turns.waited_at = time.perf_counter()


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
        await next_turn()
        if self.others_in_flight:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.bound):
                    await self._no_others.wait()
