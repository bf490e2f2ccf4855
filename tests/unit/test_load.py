"""ctld's load gate: queued reads take turns behind other work, and a saturated ctld
sheds calls with a retry hint instead of letting them time out."""
import asyncio

import pytest

from hpcq import config
from hpcq.ctld import gate
from hpcq.ctld.auth import Caller
from hpcq.ctld.gate import BUSY_WINDOW_SECONDS, Load, Overloaded
from hpcq.precedence import STAND_ASIDE_SECONDS

LIST = "/hpcq.v1.Jobs/List"
SUBMIT = "/hpcq.v1.Jobs/Submit"


def test_a_submit_waits_behind_one_read_at_most():
    load, order = Load(), []

    async def call(method, name):
        async with load.call(method):
            order.append(name)

    async def storm():
        # ten reads arrive first, then a submit: the submit runs after the first read
        await asyncio.gather(*[call(LIST, f"read{i}") for i in range(10)], call(SUBMIT, "submit"))
    asyncio.run(storm())
    assert order.index("submit") <= 1 and len(order) == 11


def test_another_users_read_waits_one_turn_behind_one_users_storm_and_is_not_shut_out():
    load, order, refused = Load(max_waiting_reads=8), [], []

    async def read(user):
        async def identify():
            return Caller(user, "user")
        try:
            async with load.call(LIST, identify) as who:
                order.append(who.name)
                await asyncio.sleep(0)
        except Overloaded:
            refused.append(user)

    async def main():
        storm = [asyncio.ensure_future(read("storm")) for _ in range(20)]   # 1 reading, 8 waiting, 11 refused
        for _ in range(3):
            await asyncio.sleep(0)
        await asyncio.gather(*storm, read("alice"))
    asyncio.run(main())
    assert order.index("alice") == 1   # right after the storm's read under way
    assert "alice" not in refused and len(order) + len(refused) == 21


def test_reads_past_the_bound_are_shed_with_a_hint_and_other_calls_still_pass():
    load = Load(max_waiting_reads=3)
    shed = []

    async def read():
        try:
            async with load.call(LIST):
                await asyncio.sleep(0.01)
        except Overloaded as e:
            shed.append(e)

    async def storm():
        reads = [asyncio.ensure_future(read()) for _ in range(6)]
        await asyncio.sleep(0)
        async with load.call(SUBMIT):   # not a queued read: never waits for a turn, never shed here
            pass
        await asyncio.gather(*reads)
    asyncio.run(storm())
    assert len(shed) == 2 and load.shed == 2     # one reading, three waiting, two refused
    assert "retry-after-ms=" in str(shed[0]) and 50 <= shed[0].retry_after_ms <= 5000


def test_past_the_bound_of_calls_in_flight_everything_is_shed():
    load = Load(max_in_flight=2)

    async def main():
        async with load.call(SUBMIT), load.call(SUBMIT):
            with pytest.raises(Overloaded, match="2 calls in flight"):
                async with load.call(SUBMIT):
                    pass
        async with load.call(SUBMIT):   # room again
            pass
    asyncio.run(main())
    assert load.in_flight == 0


def test_a_read_stands_aside_while_another_call_is_under_way():
    load, order = Load(), []

    async def submit():
        async with load.call(SUBMIT):
            order.append("submit started")
            for _ in range(5):   # awaiting its commit: the loop turns, and no read starts
                await asyncio.sleep(0)
            order.append("submit done")

    async def read():
        async with load.call(LIST):
            order.append("read")

    async def main():
        await asyncio.gather(submit(), read())
    asyncio.run(main())
    assert order == ["submit started", "submit done", "read"]


def test_a_read_stands_aside_for_a_bounded_time_only():
    load, order = Load(), []

    async def main():
        async def read():
            async with load.call(LIST):
                order.append("read")
        async with load.call(SUBMIT):   # a call that outlasts the bound: the read goes anyway
            await asyncio.wait_for(read(), STAND_ASIDE_SECONDS * 20)
            order.append("submit done")
    asyncio.run(main())
    assert order == ["read", "submit done"]


class DrivenTimes:
    """gate's `time`, driven by the test: wall (perf_counter) and this process's CPU."""

    def __init__(self) -> None:
        self.wall, self.cpu = 1000.0, 10.0

    def perf_counter(self) -> float:
        return self.wall

    def process_time(self) -> float:
        return self.cpu

    def spend(self, wall: float, cpu: float) -> None:
        self.wall += wall
        self.cpu += cpu


def test_reads_rest_while_the_loop_has_been_busier_than_its_share(monkeypatch):
    times = DrivenTimes()
    monkeypatch.setattr(gate, "time", times)
    load = Load(reads_busy_share=0.5)
    times.spend(wall=BUSY_WINDOW_SECONDS, cpu=BUSY_WINDOW_SECONDS)   # a whole window at a whole CPU
    rest = load._rest_before_read()
    assert 0 < rest <= STAND_ASIDE_SECONDS
    times.spend(wall=BUSY_WINDOW_SECONDS * 4, cpu=0)                 # then idle
    assert load._rest_before_read() <= 0
    times.spend(wall=BUSY_WINDOW_SECONDS * 2.5, cpu=BUSY_WINDOW_SECONDS)   # 40 % of a CPU: under the share
    assert load._rest_before_read() <= 0


def test_the_limits_are_the_ctld_sections_keys(tmp_path):
    path = tmp_path / "hpcq.toml"
    path.write_text("[ctld]\nmax_calls_in_flight = 10\nmax_waiting_reads = 3\nreads_busy_share = 0.25\n")
    load = Load.from_config(config.load(path).ctld)
    assert (load.max_in_flight, load.max_waiting_reads, load.reads_busy_share) == (10, 3, 0.25)
    path.write_text("[ctld]\nreads_busy_share = 0\n")
    with pytest.raises(config.ConfigError, match="reads_busy_share: must be greater than 0 and at most 1"):
        config.load(path)


def test_a_listing_under_way_pauses_between_its_slices_while_another_call_runs():
    """As ctld's List passes Precedence.stand_aside to listing.page_of."""
    from hpcq.api import jobs_pb2
    from hpcq.ctld import listing
    precedence, order = Load().precedence, []
    jobs = [jobs_pb2.Job(id=i) for i in range(1, 2 * listing.SLICE + 1)]

    def encode(job):
        if job.id in (1, listing.SLICE + 1):
            order.append(f"job {job.id}")
        return listing.encoded(job)

    async def submit():   # its first turn comes after the listing's first slice
        with precedence.other_call():
            order.append("submit started")
            for _ in range(5):   # awaiting its commit
                await asyncio.sleep(0)
            order.append("submit done")

    async def main():
        await asyncio.gather(listing.page_of(jobs, encode, between=precedence.stand_aside), submit())
    asyncio.run(main())
    assert order == ["job 1", "submit started", "submit done", f"job {listing.SLICE + 1}"]
