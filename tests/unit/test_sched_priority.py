"""Multifactor priority: each factor moves a job up or down, and explain shows the sum."""
import pytest

from hpcq.ctld.scheduler import PriorityWeights, QueuePolicy, Shares, Usage, explain, priorities, schedule
from hpcq.ctld.scheduler.priority import PriorityContext
from tests.unit.builders import job, node, reasons, starts, world

DAY = 86400.0
ONLY_AGE = PriorityWeights(age=1000, fairshare=0, job_size=0, queue=0)


def first_started(jobs, nodes=None, **snapshot):
    decisions = schedule(world(jobs, nodes or [node("n1", 4)], **snapshot), snapshot.pop("now", 10 * DAY))
    return list(starts(decisions))


def test_an_older_job_goes_first():
    old, new = job(4, submit=0.0), job(4, submit=DAY)
    assert first_started([new, old], weights=ONLY_AGE) == [old.id]


def test_age_stops_growing_at_max_age():
    w = PriorityWeights(age=1000, fairshare=0, job_size=0, queue=0, max_age=DAY)
    a, b = job(1, submit=0.0), job(1, submit=5 * DAY)
    p = priorities(world([a, b], [node("n1")], weights=w), now=10 * DAY)
    assert p[a.id] == p[b.id] == 1000


def test_age_counts_from_eligibility_not_submission():
    w = PriorityWeights(age=1000, fairshare=0, job_size=0, queue=0, max_age=10 * DAY)
    waited = job(1, submit=0.0, eligible_time=9 * DAY)
    assert priorities(world([waited], [node("n1")], weights=w), now=10 * DAY)[waited.id] == 100


def test_a_higher_queue_priority_wins():
    w = PriorityWeights(age=0, fairshare=0, job_size=0, queue=1000)
    low, high = job(4, queue="batch"), job(4, queue="express", submit=1)
    queues = [QueuePolicy("batch", priority=1), QueuePolicy("express", priority=10)]
    assert first_started([low, high], queues=queues, weights=w) == [high.id]
    p = priorities(world([low, high], [node("n1")], queues, weights=w), 0)
    assert (p[low.id], p[high.id]) == (100, 1000)


def test_job_size_favours_large_jobs_or_small_ones():
    small, large = job(1), job(4, submit=1)
    nodes = [node("n1", 4)]
    big_first = PriorityWeights(age=0, fairshare=0, job_size=1000, queue=0)
    p = priorities(world([small, large], nodes, weights=big_first), 0)
    assert p[large.id] > p[small.id]
    small_first = PriorityWeights(age=0, fairshare=0, job_size=1000, queue=0, favor_small=True)
    p = priorities(world([small, large], nodes, weights=small_first), 0)
    assert p[small.id] > p[large.id]


def test_nice_lowers_a_job_and_never_below_one():
    plain, nice = job(4), job(4, nice=50)
    assert first_started([nice, plain], weights=ONLY_AGE) == [plain.id]
    very_nice = job(1, nice=10**6)
    assert priorities(world([very_nice], [node("n1")]), 0)[very_nice.id] == 1


def test_an_admin_priority_replaces_the_computed_one():
    old = job(4, submit=0.0)
    pinned = job(4, submit=DAY, priority=10**9)        # the builder's priority= is the admin's
    assert first_started([old, pinned]) == [pinned.id]
    assert priorities(world([pinned], [node("n1")]), 0)[pinned.id] == 10**9


def test_ties_go_by_submit_time_then_id():
    a, b = job(4, submit=5.0, priority=7), job(4, submit=5.0, priority=7)
    assert first_started([b, a]) == [min(a.id, b.id)]


def test_the_breakdown_adds_up_to_the_priority():
    w = PriorityWeights(age=1000, fairshare=2000, job_size=500, queue=300, max_age=4 * DAY)
    j = job(2, submit=0.0, queue="batch", user="bob", nice=7)
    snap = world([j], [node("n1", 4), node("n2", 4)], [QueuePolicy("batch", priority=2)], weights=w)
    b = PriorityContext(snap, DAY).breakdown(j)
    assert (b.age, b.fairshare, b.job_size, b.queue) == (0.25, 1.0, 0.25, 1.0)
    assert b.priority == round(sum(b.contributions().values())) == 250 + 2000 + 125 + 300 - 7


def test_priority_is_reported_with_every_decision():
    started, waiting = job(4, priority=9), job(4, priority=3)
    decisions = schedule(world([started, waiting], [node("n1", 4)]), 0)
    assert {d.job_id: d.priority for d in decisions} == {started.id: 9, waiting.id: 3}


# --- fair-share moves the order --------------------------------------------------

ONLY_FAIRSHARE = PriorityWeights(age=0, fairshare=10_000, job_size=0, queue=0)


def order(usage, now, jobs):
    snap = world(jobs, [node("n1", 4)], weights=ONLY_FAIRSHARE, usage=usage)
    p = priorities(snap, now)
    return sorted((j.id for j in jobs), key=lambda i: -p[i])


def test_fairshare_lets_a_light_user_pass_a_heavy_one_as_usage_accrues():
    alice, bob = job(4, user="alice", submit=0.0), job(4, user="bob", submit=1.0)
    usage = Usage(epoch=0.0)
    assert order(usage, 0.0, [alice, bob]) == [alice.id, bob.id]           # no usage yet: submit order
    usage = usage.charge("alice", "", 3600 * 64, now=0.0)
    assert order(usage, 0.0, [alice, bob]) == [bob.id, alice.id]
    usage = usage.charge("bob", "", 3600 * 128, now=0.0)
    assert order(usage, 0.0, [alice, bob]) == [alice.id, bob.id]
    decisions = schedule(world([alice, bob], [node("n1", 4)], weights=ONLY_FAIRSHARE, usage=usage), 0)
    assert list(starts(decisions)) == [alice.id] and reasons(decisions) == {bob.id: "Resources"}


def test_fairshare_forgets_old_usage_as_it_decays():
    alice, bob = job(4, user="alice", submit=0.0), job(4, user="bob", submit=1.0)
    usage = Usage(epoch=0.0).charge("alice", "", 1000.0, now=0.0)       # heavy, but two weeks ago
    usage = usage.charge("bob", "", 600.0, now=14 * DAY)                 # lighter, but today
    assert usage.of_user("alice", 14 * DAY) == pytest.approx(250.0)
    assert order(usage, 14 * DAY, [alice, bob]) == [alice.id, bob.id]
    # Had nothing decayed, bob would have gone first.
    flat = Usage(epoch=0.0, half_life=1e12).charge("alice", "", 1000.0, now=0.0).charge("bob", "", 600.0,
                                                                                          now=14 * DAY)
    assert order(flat, 14 * DAY, [alice, bob]) == [bob.id, alice.id]


def test_shares_weigh_usage():
    alice, bob = job(4, user="alice", account="physics"), job(4, user="bob", account="chemistry", submit=1.0)
    usage = Usage().charge("alice", "physics", 300.0, now=0).charge("bob", "chemistry", 100.0, now=0)
    assert order(usage, 0, [alice, bob]) == [bob.id, alice.id]
    generous = Shares(accounts={"physics": 9, "chemistry": 1})
    snap = world([alice, bob], [node("n1", 4)], weights=ONLY_FAIRSHARE, usage=usage, shares=generous)
    p = priorities(snap, 0)
    assert p[alice.id] > p[bob.id]


def test_explain_shows_the_factors_and_the_reason():
    w = PriorityWeights(age=1000, fairshare=0, job_size=0, queue=0, max_age=2 * DAY)
    first, second = job(4, submit=0.0), job(4, submit=DAY)
    snap = world([first, second], [node("n1", 4)], weights=w)
    e = explain(snap, 2 * DAY, second.id)
    assert (e.reason, e.priority.priority, e.priority.age) == ("Resources", 500, 0.5)
    assert not e.would_start and e.planned_start is None      # n1 is free later, but nothing runs: no end known
    text = "\n".join(e.lines())
    assert "reason Resources" in text and "age 500" in text
    assert explain(snap, 2 * DAY, first.id).would_start
    with pytest.raises(KeyError):
        explain(snap, 0, 999_999)
