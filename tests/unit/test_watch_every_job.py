"""A watch of every job across a cut: which records ctld starts it with
(hpcq.ctld.watch.first_records), and what the client asks for when it watches again
(hpcq.client.Client.watch)."""
from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Iterator

import pytest

from hpcq import client as lowlevel
from hpcq.api import jobs_pb2
from hpcq.ctld import auth, listing, watch
from hpcq.errors import HpcqError

S = jobs_pb2.JobState


def job(job_id: int, user: str, state: int, end_time: float = 0.0) -> jobs_pb2.Job:
    return jobs_pb2.Job(id=job_id, user=user, state=state, end_time=end_time)


# Not in id order: ctld's dict is in submission order, and a requeue or an array task's
# record comes out of it anywhere.
JOBS = [
    job(7, "alice", S.RUNNING),
    job(3, "bob", S.PENDING),
    job(5, "alice", S.COMPLETED, end_time=1000.0),
    job(2, "bob", S.FAILED, end_time=1000.5),
    job(9, "bob", S.HELD),
    job(4, "alice", S.CANCELLED, end_time=999.0),
    job(1, "bob", S.COMPLETED, end_time=2000.0),
]
ALICE, BOB = auth.Caller("alice", "user"), auth.Caller("bob", "user")


def first(who: auth.Caller, finished_after: float, private: tuple[str, ...] = ()) -> list[int]:
    visible = auth.ReadRules.from_config(private).visible(who)
    return [j.id for j in asyncio.run(watch.first_records(JOBS, visible, finished_after))]


def test_every_unfinished_job_and_no_finished_one_without_finished_after():
    assert first(ALICE, 0.0) == [3, 7, 9]


def test_finished_ones_that_ended_after_the_time_strictly_in_id_order():
    assert first(ALICE, 1000.0) == [1, 2, 3, 7, 9]     # 5 ended at 1000.0 itself: not after
    assert first(ALICE, 999.999) == [1, 2, 3, 5, 7, 9]
    assert first(ALICE, 2000.0) == [3, 7, 9]
    assert first(ALICE, 1.0) == [1, 2, 3, 4, 5, 7, 9]


@pytest.mark.parametrize(("private", "alice_sees"), [
    ((), [1, 2, 3, 4, 5, 7, 9]),
    (("jobs",), [1, 2, 4, 5, 7]),                # bob's unfinished 3 and 9 do not exist for her
    (("accounting",), [3, 4, 5, 7, 9]),          # nor, here, his finished 1 and 2
    (("jobs", "accounting"), [4, 5, 7]),
])
def test_only_the_jobs_the_caller_may_see(private, alice_sees):
    assert first(ALICE, 1.0, private) == alice_sees
    assert first(auth.Caller("ops", "operator"), 1.0, private) == [1, 2, 3, 4, 5, 7, 9]


def test_the_scan_lets_the_loop_run_between_slices():
    many = [job(i, "alice", S.PENDING) for i in range(1, 3 * listing.SCAN_SLICE + 2)]
    turns = []

    async def between() -> None:
        turns.append(1)
        await asyncio.sleep(0)
    found = asyncio.run(watch.first_records(many, lambda j: True, 0.0, between=between))
    assert len(found) == len(many) and len(turns) >= 3   # at least one turn every SCAN_SLICE jobs


class CutOnce:
    """A transport whose first Watch stream gives `before` then is cut (ctld went away);
    the next one gives nothing more. It keeps each WatchRequest sent."""

    def __init__(self, before: list[jobs_pb2.Job]) -> None:
        self.before = before
        self.requests: list[jobs_pb2.WatchRequest] = []

    def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]:
        self.requests.append(jobs_pb2.WatchRequest.FromString(request))
        if len(self.requests) == 1:
            yield from (jobs_pb2.JobEvent(job=j).SerializeToString() for j in self.before)
            raise HpcqError("UNAVAILABLE", "Socket closed")
        raise HpcqError("INVALID_ARGUMENT", "the end of this test")

    def close(self) -> None:
        pass


def wall_clock(monkeypatch, *readings: float) -> None:
    """The client's wall clock reads these in turn (its monotonic clock is left alone)."""
    read = iter(readings)
    monkeypatch.setattr(lowlevel, "time", types.SimpleNamespace(time=lambda: next(read), monotonic=time.monotonic))
    monkeypatch.setattr("hpcq.transport.time.sleep", lambda seconds: None)


def watched(transport: CutOnce, job_ids: list[int], send_initial: bool) -> list[int]:
    got = []
    with pytest.raises(HpcqError, match="the end of this test"):
        for j in lowlevel.Client(transport, retry_seconds=5).watch(job_ids, send_initial=send_initial):
            got.append(j.id)
    return got


def test_watching_every_job_again_asks_for_what_finished_since_its_last_record(monkeypatch):
    wall_clock(monkeypatch, 100.0, 150.0, 160.0)   # the first call, then each record as it comes
    transport = CutOnce([job(1, "alice", S.RUNNING), job(2, "alice", S.RUNNING)])
    assert watched(transport, [], send_initial=False) == [1, 2]
    opened, again = transport.requests
    assert (opened.send_initial, opened.finished_after) == (False, 0.0)
    assert again.send_initial and not again.job_ids
    assert again.finished_after == 160.0 - lowlevel.WATCH_RESUME_MARGIN


def test_a_watch_cut_before_any_record_asks_from_when_it_began(monkeypatch):
    wall_clock(monkeypatch, 100.0)
    transport = CutOnce([])
    watched(transport, [], send_initial=True)
    assert transport.requests[1].finished_after == 100.0 - lowlevel.WATCH_RESUME_MARGIN


def test_watching_named_jobs_again_asks_for_their_records_only(monkeypatch):
    wall_clock(monkeypatch, 100.0, 150.0)
    transport = CutOnce([job(4, "alice", S.RUNNING)])
    watched(transport, [4], send_initial=False)
    again = transport.requests[1]
    assert (list(again.job_ids), again.send_initial, again.finished_after) == ([4], True, 0.0)
