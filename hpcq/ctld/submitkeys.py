"""Idempotency keys of submits: a retried submit answers the first one's job ids.

A client makes a key once per submit and sends it again with every retry of it, so a
submit whose answer was lost (ctld killed after its commit, a deadline passed) is not
stored twice. A key belongs to its caller: the same key from another user is another
submit. The key is stored in the same transaction as the jobs it made, and kept as long
as any of them is in the job table (archiving the last of them deletes it): longer than
any client retries.

Two submits of one key may be in flight at once (a client gave up waiting and retried
while the first was still being committed): the second waits for the first and answers
its ids; if the first failed, the second submits. A job action's key is kept on the
records it acted on (jobs.remember_action_key); its retries in flight wait here too.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.store.writer import Delete, Put

MAX_KEY_LENGTH = 128
TABLE = "submit_keys"


def check_key(key: str) -> None:
    """A key is 1 to 128 printable ASCII characters without spaces (a UUID fits)."""
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument("BAD_REQUEST", f"idempotency_key: longer than {MAX_KEY_LENGTH} characters")
    if not all("!" <= ch <= "~" for ch in key):
        raise InvalidArgument("BAD_REQUEST", "idempotency_key: only printable ASCII characters without spaces")


def _name(owner: str, key: str) -> str:
    """The stored id of a key: the key has no space, so the last space splits it from its owner."""
    return f"{owner} {key}"


@dataclass
class Claim:
    """One submit's hold on its key: `earlier` is what a stored submit of the same key
    answered (then nothing is to be stored); else `row(ids)` is the row to commit with
    the jobs."""
    name: str
    earlier: list[int] | None
    ids: list[int] = field(default_factory=list)

    def row(self, ids: list[int]) -> Put:
        self.ids = list(ids)
        return Put(TABLE, {"id": self.name, "job_ids": ",".join(map(str, ids))})


class SubmitKeys:
    """The keys of stored submits and the job ids each answered."""

    def __init__(self) -> None:
        self._ids: dict[str, tuple[int, ...]] = {}
        self._name_of: dict[int, str] = {}        # job id -> its submit's key
        self._left: dict[str, int] = {}           # key -> how many of its jobs are in the table
        self._in_flight: dict[str, asyncio.Event] = {}     # submits being stored, by key
        self._acting: dict[str, asyncio.Event] = {}        # job actions being carried out, by key

    def __len__(self) -> int:
        return len(self._ids)

    def load(self, rows: Iterable[tuple[str, str]]) -> None:
        for name, ids in rows:
            self._remember(name, [int(i) for i in ids.split(",") if i])

    def answered(self, owner: str, key: str) -> list[int] | None:
        ids = self._ids.get(_name(owner, key))
        return None if ids is None else list(ids)

    @asynccontextmanager
    async def claim(self, owner: str, key: str) -> AsyncIterator[Claim]:
        """Hold `key` of `owner` for one submit; the ids its row named are remembered
        when the block ends without an error (the row was committed)."""
        name = _name(owner, key)
        async with _one_at_a_time(self._in_flight, name):
            earlier = self._ids.get(name)
            claim = Claim(name, None if earlier is None else list(earlier))
            yield claim
            if claim.ids:
                self._remember(name, claim.ids)

    @asynccontextmanager
    async def acting(self, owner: str, key: str) -> AsyncIterator[None]:
        """Hold `key` of `owner` for one job action (a cancel, a requeue...). A retry that
        comes while its first attempt is still being carried out (its caller gone: gate.rpc)
        waits for it, and then finds the key on the records it acted on; else it would act
        again on what the first left (a requeued job that started again, requeued twice)."""
        async with _one_at_a_time(self._acting, _name(owner, key)):
            yield

    def forget(self, job_ids: Iterable[int]) -> list[Delete]:
        """These jobs leave the table: the deletes of keys none of whose jobs remain."""
        gone: list[Delete] = []
        for job_id in job_ids:
            name = self._name_of.pop(job_id, None)
            if name is None:
                continue
            # Counted, not looked up: a 10,000-job submit's archiving cost ctld 2 s of its loop.
            self._left[name] -= 1
            if not self._left[name]:
                del self._left[name], self._ids[name]
                gone.append(Delete(TABLE, name))
        return gone

    def _remember(self, name: str, ids: list[int]) -> None:
        self._ids[name] = tuple(ids)
        for job_id in ids:
            self._name_of[job_id] = name
        self._left[name] = len(set(ids))


@asynccontextmanager
async def _one_at_a_time(calls: dict[str, asyncio.Event], name: str) -> AsyncIterator[None]:
    """One call under `name` at a time: the others wait for the one in `calls`."""
    while (busy := calls.get(name)) is not None:
        await busy.wait()
    done = calls[name] = asyncio.Event()
    try:
        yield
    finally:
        del calls[name]
        done.set()
