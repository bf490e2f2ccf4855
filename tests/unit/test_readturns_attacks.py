"""A hostile user against the read turns (hpcq.ctld.readturns through gate.Load): hanging
up, timing out, being refused or failing mid-read while the waiting room is full must not
make the count drift, hold the turn for ever, or fail another user's read."""
import asyncio
import random

import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld import listcache, listing
from hpcq.ctld.auth import Caller
from hpcq.ctld.gate import Load, Overloaded
from hpcq.ctld.readturns import NoRoom, ReadTurns
from tests.unit.test_listcache import BusyWorld

LIST = "/hpcq.v1.Jobs/List"


class Refused(Exception):
    """What Gate.admit's abort raises for an unauthenticated or refused caller."""


class Boom(Exception):
    """A read that fails while it has its turn."""


def consistent(turns: ReadTurns) -> bool:
    return turns.waiting == sum(len(q) for q in turns._queues.values()) and all(turns._queues.values())


def test_a_read_given_up_just_after_its_caller_hung_up_still_makes_room_for_a_newcomer():
    """The storm's newest read is cancelled (its client hung up) and, before its task runs
    again, another user's read comes to a full room: the newcomer waits; before, it got
    InvalidStateError (set_exception on a cancelled future), which grpc answers UNKNOWN."""
    async def main():
        turns = ReadTurns(room=2)
        await turns.take("storm")
        storm = [asyncio.ensure_future(turns.take("storm")) for _ in range(2)]
        for _ in range(3):
            await asyncio.sleep(0)
        storm[1].cancel()
        # alice's read comes in this very step, before the cancelled task runs again
        with pytest.raises(TimeoutError):   # it waits (its turn would come after the storm's)
            async with asyncio.timeout(0.01):
                await turns.take("alice")
        await asyncio.gather(storm[1], return_exceptions=True)
        assert consistent(turns) and turns.waiting_of("storm") == 1 and storm[1].cancelled()
        turns.release()
        await storm[0]
        turns.release()
        assert (turns.waiting, turns._taken) == (0, False)
    asyncio.run(main())


def test_a_refused_caller_is_charged_to_nobody_and_takes_no_place():
    async def main():
        load = Load(max_waiting_reads=3)

        async def read(identify):
            async with load.call(LIST, identify):
                await asyncio.sleep(0.01)

        async def storm():
            return Caller("storm", "user")

        async def refused():
            raise Refused("UNAUTHENTICATED")
        tasks = [asyncio.ensure_future(read(storm)) for _ in range(4)]   # one reading, three waiting
        for _ in range(3):
            await asyncio.sleep(0)
        assert load.waiting_reads == 3
        for _ in range(20):
            with pytest.raises(Refused):
                await read(refused)
        assert (load.waiting_reads, load.waiting_reads_of("storm"), load.waiting_reads_of("")) == (3, 3, 0)
        assert load.in_flight == 4
        await asyncio.gather(*tasks)
        assert (load.waiting_reads, load.in_flight) == (0, 0)
    asyncio.run(main())


@pytest.mark.parametrize("seed", range(12))
def test_hang_ups_timeouts_refusals_and_failures_leave_no_count_and_no_turn_behind(seed):
    """Random abuse against a small room: afterwards nothing waits, nothing is in flight,
    and another user's read has its turn at once. Only the expected errors come out."""
    rng = random.Random(seed)
    unexpected: list[BaseException] = []

    async def main():
        load = Load(max_waiting_reads=rng.choice([1, 2, 5]), reads_busy_share=1.0)
        turns = load._read_turns

        async def read(user):
            async def identify():
                if user == "refused":
                    raise Refused(user)
                if rng.random() < 0.2:
                    await asyncio.sleep(0)   # a slow handshake: others get in first
                return Caller(user, "user")
            try:
                async with asyncio.timeout(rng.choice([None, 0.0005, 0.002, 0.01])):
                    async with load.call(LIST, identify):
                        for _ in range(rng.randrange(4)):
                            await asyncio.sleep(0)
                        if rng.random() < 0.1:
                            raise Boom()
            except (Overloaded, Refused, Boom, TimeoutError, asyncio.CancelledError):
                pass
            except BaseException as e:   # noqa: BLE001 - any other is the defect sought
                unexpected.append(e)

        users = ["storm"] * 6 + ["alice", "bob", "refused"]
        tasks: list[asyncio.Task[None]] = []
        for _ in range(300):
            if rng.random() < 0.6:
                tasks.append(asyncio.ensure_future(read(rng.choice(users))))
            if tasks and rng.random() < 0.3:
                rng.choice(tasks).cancel()    # a client hangs up, at whatever point its read is
            await asyncio.sleep(0)
            assert consistent(turns)
        await asyncio.gather(*tasks, return_exceptions=True)
        assert (load.waiting_reads, load.in_flight, turns._taken, turns._queues) == (0, 0, False, {})
        async with asyncio.timeout(1):
            async with load.call(LIST, lambda: _caller("alice")) as who:
                assert who.name == "alice"
    asyncio.run(main())
    assert not unexpected, unexpected


async def _caller(name):
    return Caller(name, "user")


def test_a_given_up_read_whose_caller_then_hangs_up_is_not_counted_twice():
    async def main():
        turns = ReadTurns(room=2)
        await turns.take("storm")
        storm = [asyncio.ensure_future(turns.take("storm")) for _ in range(2)]
        await asyncio.sleep(0)
        alice = asyncio.ensure_future(turns.take("alice"))   # the storm's newest read gives way
        await asyncio.sleep(0)
        storm[1].cancel()                                    # and its client hangs up too
        await asyncio.gather(storm[1], return_exceptions=True)
        assert storm[1].cancelled() or isinstance(storm[1].exception(), NoRoom)
        assert (turns.waiting, turns.waiting_of("storm"), turns.waiting_of("alice")) == (2, 1, 1)
        for read in (alice, storm[0]):   # in rotation: the storm had the last turn
            turns.release()
            await read
        turns.release()
        assert (turns.waiting, turns._taken) == (0, False)
    asyncio.run(main())


# -- the answers kept per user (hpcq.ctld.listcache._Entry.own, keyed by name) -------------

# Callers that share a name but not a role or a path in: none may be given an answer kept
# for another, and each gets what a listing made afresh for them says.
NAMESAKES = [Caller("alice", "user", via_host="login1"), Caller("alice", "user"), Caller("alice", "operator"),
             Caller("bob", "user", via_host="login2"), Caller("bob", "admin"),
             Caller("root", "user", via_host="login1"), Caller("carol", "user")]


@pytest.mark.parametrize("private", [(), ("accounting",), ("jobs", "accounting")])
def test_namesakes_pages_and_changes_mid_answer_never_get_another_callers_kept_answer(tmp_path, monkeypatch, private):
    monkeypatch.setattr(listing, "SLICE", 2)
    monkeypatch.setattr(listing, "SCAN_SLICE", 2)
    w = BusyWorld(tmp_path, private=private)
    w.ids += w.submit("alice", 3) + w.submit("bob", 3) + w.submit("root", 1)
    requests = [jobs_pb2.ListJobsRequest(), jobs_pb2.ListJobsRequest(include_finished=True, page_size=2),
                jobs_pb2.ListJobsRequest(users=["alice"], page_size=4), jobs_pb2.ListJobsRequest(page_size=1)]
    rng = random.Random(3)
    for step in range(30):
        who, request = rng.choice(NAMESAKES), rng.choice(requests)
        w.changes_left = rng.choice([0, 0, 2])   # jobs change while the answer is made
        made = asyncio.run(w.listings.answer(who, request, busy=True))
        w.changes_left = 0
        for other in NAMESAKES:   # every other caller's answer right after, kept or not
            kept = asyncio.run(w.listings.answer(other, request, busy=True))
            fresh = asyncio.run(w.listings.answer(other, request, busy=False))
            assert kept.data == fresh.data, (step, other, request)
        # made while jobs changed, it may say any moment of the change, but shows no one else's script
        shown = jobs_pb2.ListJobsResponse.FromString(made.data).jobs
        assert all(not j.spec.script or who.may_act_on(j.user) for j in shown), (step, who, request)
        if rng.random() < 0.2:
            w.now[0] += listcache.MAX_AGE + 0.1
    assert w.listings.hits > 30
    w.store.close()
