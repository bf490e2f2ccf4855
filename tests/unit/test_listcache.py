"""Shared List answers under a storm: who shares what, and when an answer is recomputed."""
import asyncio
import random

import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld import auth, listcache, listing
from hpcq.ctld.auth import Caller
from hpcq.ctld.clock import ManualClock
from hpcq.ctld.listcache import Listings
from tests.unit.controllers import make

S = jobs_pb2.JobState

SCRIPT = "#!/bin/sh\nsecret-token\n"


class World:
    def __init__(self, tmp_path, private=(), clock=None):
        self.c, self.store = make(tmp_path, clock=clock)
        self.reads = auth.ReadRules.from_config(private)
        self.computed = []
        self.now = [0.0]
        self.listings = Listings(self.c.watchers, self.reads, self.compute, self.c.get, "c",
                                 clock=lambda: self.now[0])

    async def compute(self, who, request, encode):
        """As the List servicer computes an answer."""
        self.computed.append(who.name)
        return await listing.page_for(list(self.c.jobs.values()), request, self.reads.visible(who), encode)

    def submit(self, user, n=1):
        return asyncio.run(self.c.submit(user, [jobs_pb2.JobSpec(script=SCRIPT, hold=True)] * n))

    def list(self, who, busy=True):
        answer = asyncio.run(self.listings.answer(who, jobs_pb2.ListJobsRequest(), busy=busy))
        return jobs_pb2.ListJobsResponse.FromString(answer.data)


ALICE, BOB, CAROL = Caller("alice", "user"), Caller("bob", "user"), Caller("carol", "user")
ADMIN = Caller("root", "admin")


def scripts(reply):
    return {j.id: j.spec.script for j in reply.jobs}


def test_users_share_one_listing_each_seeing_only_their_own_scripts(tmp_path):
    w = World(tmp_path)
    alices, bobs = w.submit("alice", 3), w.submit("bob", 2)
    first = w.list(ALICE)
    assert scripts(first) == {**{i: SCRIPT for i in alices}, **{i: "" for i in bobs}}
    assert scripts(w.list(BOB)) == {**{i: "" for i in alices}, **{i: SCRIPT for i in bobs}}
    assert scripts(w.list(CAROL)) == {i: "" for i in alices + bobs}
    assert w.computed == [""] and w.listings.hits == 2   # once, as nobody's
    assert scripts(w.list(ADMIN)) == {i: SCRIPT for i in alices + bobs}
    w.store.close()


def test_a_job_change_is_put_into_the_shared_answer_and_age_makes_it_afresh(tmp_path):
    w = World(tmp_path)
    w.submit("alice")
    w.list(BOB)
    [new] = w.submit("alice")   # published to the watchers: put into the kept answer
    assert new in {j.id for j in w.list(BOB).jobs}
    assert w.computed == [""]
    w.now[0] += listcache.MAX_AGE + 0.1
    w.list(BOB)
    assert w.computed == ["", ""]
    w.store.close()


@pytest.mark.parametrize("private", [(), ("jobs",)])
def test_a_kept_answer_kept_current_is_the_answer_made_afresh(tmp_path, private):
    """Whatever happens to jobs, the shared answer kept current says what a fresh one would."""
    w = World(tmp_path, private=private)
    rng = random.Random(7)
    requests = [jobs_pb2.ListJobsRequest(), jobs_pb2.ListJobsRequest(users=["bob"]),
                jobs_pb2.ListJobsRequest(include_finished=True), jobs_pb2.ListJobsRequest(states=[S.HELD])]
    ids = w.submit("alice", 3) + w.submit("bob", 3)
    for step in range(40):
        for who in (ALICE, BOB, CAROL, ADMIN):
            for request in requests:
                kept = asyncio.run(w.listings.answer(who, request, busy=True))
                fresh = asyncio.run(w.listings.answer(who, request, busy=False))
                assert kept.data == fresh.data, (step, who.name, request)
        asyncio.run(change_one(w.c, rng, ids))
    assert w.listings.hits > 0
    w.store.close()


async def change_one(c, rng, ids):
    """Submit a job, or cancel, hold or release one of `ids` (a submitted one is added)."""
    action = rng.choice(["submit", "cancel", "hold", "release"])
    if action == "submit":
        ids += await c.submit(rng.choice(["alice", "bob"]), [jobs_pb2.JobSpec(script=SCRIPT, hold=True)])
        return
    job = c.get(rng.choice(ids))
    await getattr(c, action)(job, *(("root",) if action == "cancel" else (False,) if action == "hold" else ()))


class BusyWorld(World):
    """A World whose jobs change while a listing is being made: between its slices, where
    hpcq.precedence lets other calls run."""

    def __init__(self, tmp_path, private=()):
        super().__init__(tmp_path, private)
        self.rng, self.ids, self.changes_left = random.Random(11), [], 0

    async def compute(self, who, request, encode):
        self.computed.append(who.name)
        return await listing.page_for(list(self.c.jobs.values()), request, self.reads.visible(who), encode,
                                      between=self.between)

    async def between(self):
        if self.changes_left:
            self.changes_left -= 1
            await change_one(self.c, self.rng, self.ids)


@pytest.mark.parametrize("private", [(), ("jobs",)])
def test_an_answer_made_while_jobs_change_is_kept_and_says_what_one_made_after_would(tmp_path, monkeypatch, private):
    monkeypatch.setattr(listing, "SLICE", 2)
    monkeypatch.setattr(listing, "SCAN_SLICE", 2)
    w = BusyWorld(tmp_path, private=private)
    w.ids += w.submit("alice", 4) + w.submit("bob", 4)
    requests = [jobs_pb2.ListJobsRequest(), jobs_pb2.ListJobsRequest(include_finished=True)]
    for step in range(12):
        for who in (ALICE, BOB, ADMIN):
            for request in requests:
                w.changes_left = 3
                made = asyncio.run(w.listings.answer(who, request, busy=True))
                w.changes_left = 0
                kept = asyncio.run(w.listings.answer(who, request, busy=True))
                fresh = asyncio.run(w.listings.answer(who, request, busy=False))
                assert made.data == kept.data == fresh.data, (step, who.name, request)
        w.now[0] += listcache.MAX_AGE + 0.1   # each step makes every answer again
    assert len(w.ids) > 8 and w.listings.hits >= 12 * 3 * 2
    w.store.close()


def test_a_users_answer_from_the_shared_one_is_made_once_and_kept_current(tmp_path, monkeypatch):
    w = World(tmp_path)
    [first, *_] = w.submit("alice", 3)
    [bobs, _] = w.submit("bob", 2)
    made = []
    real = w.listings._own_jobs_whole

    async def counted(entry, who, request):
        made.append(who.name) if who.name not in entry.own else None
        return await real(entry, who, request)
    monkeypatch.setattr(w.listings, "_own_jobs_whole", counted)
    answers = [w.list(ALICE).SerializeToString() for _ in range(3)]
    assert made == ["alice"] and len(set(answers)) == 1
    # Her new job, bob's, and one gone from the listing: each put into her kept answer in place.
    [new] = w.submit("alice")
    [bobs_new] = w.submit("bob")
    asyncio.run(w.c.cancel(w.c.get(first), "root"))
    asyncio.run(w.c.cancel(w.c.get(bobs), "root"))
    kept = w.list(ALICE)
    assert made == ["alice"]
    assert kept == w.list(ALICE, busy=False)   # as made afresh
    shown = scripts(kept)
    assert shown[new] == SCRIPT and shown[bobs_new] == "" and first not in shown and bobs not in shown
    w.store.close()


def test_an_idle_ctld_answers_every_list_afresh(tmp_path):
    w = World(tmp_path)
    w.submit("alice")
    w.list(BOB, busy=False)
    w.list(BOB, busy=False)
    assert w.computed == ["bob", "bob"] and w.listings.hits == 0
    w.store.close()


def test_with_private_data_a_user_shares_only_with_themselves(tmp_path):
    w = World(tmp_path, private=("jobs",))
    w.submit("alice")
    w.submit("bob")
    assert [j.user for j in w.list(BOB).jobs] == ["bob"]
    assert [j.user for j in w.list(ALICE).jobs] == ["alice"]
    assert [j.user for j in w.list(BOB).jobs] == ["bob"]
    assert w.computed == ["bob", "alice"]
    w.store.close()


def test_a_listing_made_again_encodes_only_the_jobs_that_changed(tmp_path, monkeypatch):
    w = World(tmp_path)
    encoded = []
    real = listing.encoded
    monkeypatch.setattr(listing, "encoded", lambda job: encoded.append(job.id) or real(job))
    first = w.submit("alice", 5)
    w.list(BOB)
    assert sorted(encoded) == first
    encoded.clear()
    [new] = w.submit("alice")   # the shared answer is stale; the five jobs' encodings are not
    assert [j.id for j in w.list(BOB).jobs] == first + [new]
    assert encoded == [new]


def test_a_kept_encoding_lasts_while_what_the_scheduler_decided_of_the_job_stands(tmp_path, monkeypatch):
    w = World(tmp_path)
    encoded = []
    real = listing.encoded
    monkeypatch.setattr(listing, "encoded", lambda job: encoded.append(job.id) or real(job))
    first, second = w.submit("alice", 2)
    w.list(BOB)
    w.c.get(second).reason = "Priority"   # as the scheduler sets a reason: without an event
    w.now[0] += listcache.MAX_AGE + 0.1
    assert [j.reason for j in w.list(BOB).jobs] == ["JobHeldUser", "Priority"]
    assert encoded == [first, second, second]   # made again, the unchanged job's encoding reused
    w.c.get(first).cpu_seconds = 7.0   # no event, and not the scheduler's: shown MAX_ENCODING_AGE late at most
    w.now[0] += listcache.MAX_ENCODING_AGE + 0.1
    assert [j.cpu_seconds for j in w.list(BOB).jobs] == [7.0, 0.0]


def test_what_a_pass_decides_in_place_reaches_kept_answers_at_once(tmp_path):
    """A pass changes a pending job's reason, and a begin time come makes a job PENDING,
    without an event for Watch streams: kept answers are told (Watchers.decided) and say so
    at once, without being made again."""
    clock = ManualClock()
    w = World(tmp_path, clock=clock)
    [pending, later] = asyncio.run(w.c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT),
                                                        jobs_pb2.JobSpec(script=SCRIPT, begin_time=clock.now + 60)]))
    before = {j.id: (j.state, j.reason) for j in w.list(BOB).jobs}
    assert before[later] == (S.WAITING, "BeginTime")
    asyncio.run(w.c.schedule_once())   # no node: the pass says why the job waits
    clock.advance(61)
    asyncio.run(w.c.schedule_once())
    made = len(w.computed)
    shown = {j.id: (j.state, j.reason) for j in w.list(BOB).jobs}
    assert shown == {i: (w.c.get(i).state, w.c.get(i).reason) for i in (pending, later)}
    assert shown[pending][1] != before[pending][1] and shown[later][0] == S.PENDING
    assert len(w.computed) == made and w.listings.hits >= 1   # the kept answer, not a fresh one
    w.store.close()


class PagedWorld(World):
    """A World whose listings are cut into pages by page_size, as the List servicer's are."""

    def page(self, who, request, busy=True):
        answer = asyncio.run(self.listings.answer(who, request, busy=busy))
        reply = jobs_pb2.ListJobsResponse.FromString(answer.data)
        return [j.id for j in reply.jobs], reply.next_page_token


def test_a_kept_page_a_new_job_would_overfill_is_made_again(tmp_path):
    """A page that held exactly page_size jobs, and so no next page, gets one once a job comes."""
    w = PagedWorld(tmp_path)
    first = w.submit("alice", 2)
    request = jobs_pb2.ListJobsRequest(page_size=2)
    assert w.page(BOB, request) == (first, "")
    w.submit("alice")

    assert w.page(BOB, request) == (first, str(first[-1])) == w.page(BOB, request, busy=False)
    w.store.close()


@pytest.mark.parametrize("private", [(), ("jobs",), ("jobs", "accounting")])
def test_a_kept_page_kept_current_is_the_page_made_afresh(tmp_path, private):
    """With page_size, whatever happens to jobs: each kept page says what a fresh one would."""
    w = PagedWorld(tmp_path, private=private)
    rng = random.Random(11)
    requests = [jobs_pb2.ListJobsRequest(page_size=n, include_finished=finished)
                for n in (1, 2, 3) for finished in (False, True)]
    ids = w.submit("alice", 2) + w.submit("bob", 1)
    for step in range(40):
        for who in (ALICE, BOB, CAROL, ADMIN):
            for request in requests:
                assert w.page(who, request) == w.page(who, request, busy=False), (step, who.name, request)
        action = rng.choice(["submit", "cancel", "hold", "release"])
        if action == "submit":
            ids += w.submit(rng.choice(["alice", "bob"]))
        else:
            job = w.c.get(rng.choice(ids))
            asyncio.run(getattr(w.c, action)(job, *(("root",) if action == "cancel" else (False,) if action == "hold"
                                                   else ())))
    assert w.listings.hits > 0
    w.store.close()


def test_the_answers_kept_hold_at_most_max_kept_bytes_however_many_requests(tmp_path, monkeypatch):
    """A user who varies a request for ever more answers has the oldest let go."""
    w = PagedWorld(tmp_path)
    w.submit("alice", 4)
    requests = [jobs_pb2.ListJobsRequest(page_size=100 + i) for i in range(3)]   # one listing, three answers
    head = len(jobs_pb2.ListJobsResponse(cluster="c").SerializeToString())
    size = len(asyncio.run(w.listings.answer(BOB, requests[0], busy=False)).data) - head
    monkeypatch.setattr(listcache, "MAX_KEPT_BYTES", 2 * size)
    w.computed.clear()
    for request in requests:
        w.page(BOB, request)
    for request in requests[1:]:
        w.page(BOB, request)
    assert len(w.computed) == 3   # the last two were kept
    w.page(BOB, requests[0])
    assert len(w.computed) == 4   # the first was let go
    w.store.close()


def test_a_change_without_an_event_reaches_every_answer_within_max_age(tmp_path):
    """The scheduler sets a pending reason without an event: every answer, kept or made
    from kept encodings, shows it MAX_AGE after at the latest."""
    w = World(tmp_path)
    [job] = w.submit("alice")
    requests = [jobs_pb2.ListJobsRequest(), jobs_pb2.ListJobsRequest(users=["alice"]),
                jobs_pb2.ListJobsRequest(states=[S.HELD])]
    w.list(BOB)   # its encodings are kept from now on
    w.c.get(job).reason = "Priority"
    for step in range(1, 61):
        w.now[0] = step * listcache.MAX_AGE / 20
        for who in (ALICE, BOB, ADMIN):
            for request in requests:
                answer = asyncio.run(w.listings.answer(who, request, busy=True))
                [shown] = jobs_pb2.ListJobsResponse.FromString(answer.data).jobs
                if w.now[0] > listcache.MAX_AGE:
                    assert shown.reason == "Priority", (w.now[0], who.name, request)
    assert w.listings.hits > 0
    w.store.close()


def test_kept_encodings_hold_at_most_their_byte_bound(tmp_path, monkeypatch):
    w = World(tmp_path)
    monkeypatch.setattr(listcache, "MAX_ENCODED_BYTES", 20_000)
    big = jobs_pb2.JobSpec(script="#!/bin/sh\n" + "x" * 3000, hold=True)
    asyncio.run(w.c.submit("alice", [big] * 12))
    w.list(ADMIN)   # every job whole: about 36,000 bytes of encodings
    assert 0 < w.listings._encoded_bytes <= 20_000
    assert w.listings._encoded_bytes == sum(len(chunk) for _, _, chunk in w.listings._encoded.values())
