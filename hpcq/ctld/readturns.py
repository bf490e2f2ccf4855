"""Queued reads take turns, one at a time, their users in rotation.

Under a polling storm ctld answers one queued read (squeue's List, qstat's, sinfo's) at a
time. Taken in arrival order, one user's hundred waiting polls would put a hundred turns
before anybody else's squeue; taken user by user in rotation, they put one. And when
the waiting room is full, the user who holds most of it gives up their latest read for a
newcomer who holds less: one user polling in many loops cannot shut the others out.
"""
from __future__ import annotations

import asyncio
from collections import deque


class NoRoom(Exception):
    """No room for this read: the waiting room is full, and its user holds as much of it
    as anyone (or it was given up for a user who held less)."""


class ReadTurns:
    def __init__(self, room: int) -> None:
        self.room = room      # reads that may wait
        self.waiting = 0
        self._taken = False   # a read has its turn
        self._last = ""       # whose read had the last turn
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}   # user -> reads waiting, oldest first;
        # the dict's order is the rotation: the user served next is the first

    def waiting_of(self, user: str) -> int:
        return len(self._queues.get(user, ()))

    async def take(self, user: str) -> None:
        """Wait for a turn (release() it after); NoRoom when there is none to wait in."""
        if not self._taken and not self.waiting:
            self._taken, self._last = True, user
            return
        if self.waiting >= self.room:
            self._make_room_for(user)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(user, deque()).append(turn)
        self.waiting += 1
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.release()   # the turn came as its caller went away: the next one's
            else:
                self._drop(user, turn)
            raise

    def release(self) -> None:
        """The turn ends: the next user in rotation gets it for their oldest read (not the
        user who just had one, while another waits)."""
        if len(self._queues) > 1 and next(iter(self._queues)) == self._last:
            self._queues[self._last] = self._queues.pop(self._last)
        while self._queues:
            user, queue = next(iter(self._queues.items()))
            turn = queue.popleft()
            del self._queues[user]
            if queue:
                self._queues[user] = queue   # to the back of the rotation
            self.waiting -= 1
            if not turn.done():
                self._last = user
                turn.set_result(None)
                return
        self._taken = False

    def _make_room_for(self, user: str) -> None:
        greediest = max(self._queues, key=lambda u: len(self._queues[u]))
        if len(self._queues[greediest]) <= self.waiting_of(user) + 1:
            raise NoRoom(f"{self.waiting} reads waiting")
        given_up = self._queues[greediest].pop()
        self.waiting -= 1
        if not self._queues[greediest]:
            del self._queues[greediest]
        if not given_up.done():   # else its caller hung up and its task has yet to run: it leaves anyway
            given_up.set_exception(NoRoom(f"{self.waiting + 1} reads waiting, {greediest!r}'s the most"))

    def _drop(self, user: str, turn: asyncio.Future[None]) -> None:
        queue = self._queues.get(user)
        if queue is not None and turn in queue:
            queue.remove(turn)
            self.waiting -= 1
            if not queue:
                del self._queues[user]
