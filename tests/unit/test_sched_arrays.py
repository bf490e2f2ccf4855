"""Arrays: one pending record for the rest, several tasks per pass, the %N throttle."""
import pytest

from hpcq.ctld.scheduler import ArrayTasks, IndexSet, schedule
from tests.unit.builders import after, job, node, reasons, reservations, running, started_tasks, world


def test_index_sets_parse_and_print_like_slurm():
    assert str(IndexSet.parse("1-10")) == "1-10"
    assert str(IndexSet.parse("1-9:2")) == "1-9:2"
    assert list(IndexSet.parse("1-10:3")) == [1, 4, 7, 10]
    assert str(IndexSet.parse("1,3,5,7,10-12")) == "1-7:2,10-12"
    assert len(IndexSet.parse("0-99999")) == 100_000
    assert str(ArrayTasks(IndexSet.parse("3-10"), throttle=2)) == "3-10%2"
    assert 7 in IndexSet.parse("1-9:2") and 8 not in IndexSet.parse("1-9:2")
    for bad in ("x", "5-1", "1-4:0", "-3"):
        with pytest.raises(ValueError, match="array indices"):
            IndexSet.parse(bad)


def test_index_sets_stay_compact_as_tasks_start():
    rest = IndexSet.range(1, 100_000)
    first, rest = rest.pop_first()
    assert first == 1 and rest.runs == ((2, 100_000, 1),)
    assert str(IndexSet.parse("1-10").without([1, 2, 5])) == "3-4,6-10"
    assert str(IndexSet.parse("1-9:2,20").without([3, 4, 20, 99])) == "1,5-9:2"
    assert list(IndexSet.parse("1-9:2").without([9, 1])) == [3, 5, 7]
    assert IndexSet.of([9, 1, 5, 1]).runs == ((1, 9, 4),)


def test_a_pass_starts_as_many_tasks_as_fit():
    arr = job(1, array="1-10")
    decisions = schedule(world([arr], [node("n1", 4)]), 0)
    assert started_tasks(decisions) == [(arr.id, i) for i in (1, 2, 3, 4)]
    assert reasons(decisions) == {arr.id: "Resources"}


def test_the_throttle_caps_running_tasks():
    arr = job(1, array="1-10", throttle=2)
    r = running("n1", 1, ends=100, array_job_id=arr.id)         # task already running
    decisions = schedule(world([arr], [node("n1", 8, used_cpus=1)], running=(r,)), 0)
    assert started_tasks(decisions) == [(arr.id, 1)]
    assert reasons(decisions) == {arr.id: "JobArrayTaskLimit"}


def test_a_fully_started_array_gets_no_reason():
    arr = job(1, array="5-6")
    decisions = schedule(world([arr], [node("n1", 4)]), 0)
    assert started_tasks(decisions) == [(arr.id, 5), (arr.id, 6)]
    assert reasons(decisions) == {}


def test_tasks_count_against_user_limits():
    from hpcq.ctld.scheduler import QueuePolicy
    arr = job(1, array="1-10")
    decisions = schedule(world([arr], [node("n1", 8)], [QueuePolicy("batch", max_running_per_user=3)]), 0)
    assert len(started_tasks(decisions)) == 3 and reasons(decisions) == {arr.id: "QOSMaxJobsPerUserLimit"}


def test_the_next_task_is_reserved():
    r = running("n1", 4, ends=100)
    arr = job(4, array="3-9", walltime=10)
    plan = reservations(schedule(world([arr], [node("n1", 4, used_cpus=4)], running=(r,)), 0))[arr.id]
    assert (plan.start_at, plan.array_index) == (100, 3)


def test_the_applied_world_has_the_rest():
    arr = job(1, array="1-10", walltime=10)
    snap = world([arr], [node("n1", 4)])
    later = after(snap, schedule(snap, 0), 0)
    assert str(later.pending[0].array.indices) == "5-10"
    assert sum(1 for r in later.running if r.array_job_id == arr.id) == 4


def test_a_huge_array_stays_one_record_of_one_run():
    arr = job(1, array="1-1000000", throttle=0)
    snap = world([arr], [node(f"n{i}", 2) for i in range(3)])
    decisions = schedule(snap, 0)
    assert started_tasks(decisions) == [(arr.id, i) for i in range(1, 7)]
    assert after(snap, decisions, 0).pending[0].array.indices.runs == ((7, 1_000_000, 1),)
