"""Queued reads take turns user by user, and one user cannot fill the waiting room."""
import asyncio

import pytest

from hpcq.ctld.readturns import NoRoom, ReadTurns


async def reads(turns, users, order, hold=0):
    """Each of `users` reads in turn; `order` gets who read, in the order they got turns."""
    async def read(user):
        await turns.take(user)
        try:
            order.append(user)
            for _ in range(hold):
                await asyncio.sleep(0)
        finally:
            turns.release()
    return [asyncio.ensure_future(read(user)) for user in users]


def test_users_take_turns_in_rotation_not_in_arrival_order():
    async def main():
        turns, order = ReadTurns(room=100), []
        tasks = await reads(turns, ["storm"] * 6 + ["alice", "bob", "alice"], order, hold=2)
        await asyncio.gather(*tasks)
        return order
    order = asyncio.run(main())
    # the storm's first read had the turn when the others came; then each user in rotation
    assert order[:4] == ["storm", "alice", "bob", "storm"] and order.index("alice", 2) <= 5
    assert sorted(order) == sorted(["storm"] * 6 + ["alice", "bob", "alice"])


def test_a_full_room_makes_room_for_a_user_who_holds_less_of_it():
    async def main():
        turns = ReadTurns(room=3)
        await turns.take("storm")   # the storm's read has the turn

        async def waiting(user):
            read = asyncio.ensure_future(turns.take(user))
            for _ in range(3):   # it waits; any read it made give way has heard
                await asyncio.sleep(0)
            return read
        storm = [await waiting("storm") for _ in range(3)]   # the room is full
        alice = await waiting("alice")                       # the storm's latest gives way
        assert isinstance(storm[2].exception(), NoRoom)
        assert (turns.waiting_of("storm"), turns.waiting_of("alice")) == (2, 1)
        with pytest.raises(NoRoom):
            await turns.take("storm")   # it holds the most: refused
        bob = await waiting("bob")      # storm 2, alice 1, bob 0: the storm gives way again
        assert isinstance(storm[1].exception(), NoRoom)
        served = []
        for _ in range(3):
            turns.release()
            for _ in range(3):
                await asyncio.sleep(0)
            served += [name for name, read in (("storm", storm[0]), ("alice", alice), ("bob", bob))
                       if read.done() and name not in served]
        assert served == ["alice", "bob", "storm"] and turns.waiting == 0
    asyncio.run(main())


def test_a_read_whose_caller_goes_away_leaves_its_place_and_its_turn():
    async def main():
        turns = ReadTurns(room=10)
        await turns.take("alice")        # alice reads
        waiting = asyncio.ensure_future(turns.take("bob"))
        granted = asyncio.ensure_future(turns.take("dave"))
        await asyncio.sleep(0)
        assert turns.waiting == 2
        waiting.cancel()                 # bob hangs up while waiting
        await asyncio.sleep(0)
        assert turns.waiting == 1 and turns.waiting_of("bob") == 0
        turns.release()                  # alice done: dave's turn...
        granted.cancel()                 # ...but dave hangs up before using it
        with pytest.raises(asyncio.CancelledError):
            await granted
        await asyncio.wait_for(turns.take("erin"), 1)   # the turn passed on: erin has it at once
        assert turns.waiting == 0
    asyncio.run(main())
