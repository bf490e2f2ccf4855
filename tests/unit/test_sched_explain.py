"""explain: the reason, the planned start and what lies behind them, from the pass's own data."""
from hpcq.ctld.scheduler import QueuePolicy, Target, explain
from hpcq.ctld.scheduler.dependencies import Phase
from tests.unit.builders import busy_node, job, node, running, world


def test_a_reserved_job_shows_its_planned_start_and_nodes():
    r = running("n1", 4, ends=100)
    big = job(4, walltime=50)
    e = explain(world([big], [busy_node("n1", 4, jobs=[r])], running=(r,)), 0, big.id)
    assert (e.reason, e.planned_start, e.planned_nodes) == ("Resources", 100, ("n1",))
    assert "planned start 100 on n1" in "\n".join(e.lines())


def test_a_job_behind_a_reservation_says_priority():
    r = running("n1", 4, ends=100)
    first, second = job(4, walltime=50, submit=0), job(4, walltime=50, submit=1)
    e = explain(world([first, second], [busy_node("n1", 4, jobs=[r])], running=(r,)), 0, second.id)
    assert e.reason == "Priority" and e.planned_start is None
    assert "higher-priority job of queue batch" in e.detail


def test_a_dependency_shows_each_job_it_waits_for():
    j = job(1, depends="afterok:7,afterany:8")
    e = explain(world([j], [node("n1")], phases={Target(7): Phase.FAILED, Target(8): Phase.RUNNING}), 0, j.id)
    assert e.reason == "DependencyNeverSatisfied"
    assert e.detail == "afterok:7(failed),afterany:8(unfulfilled)"


def test_a_job_no_node_can_hold_says_what_it_needs():
    j = job(16, mem=1000)
    e = explain(world([j], [node("n1", 4), node("n2", 8)]), 0, j.id)
    assert e.reason == "ReqNodeNotAvail"
    assert e.detail == "needs 1 node(s) with 16 CPUs, 1000 MB without a time limit; 0 of the queue's 2 could"


def test_a_down_queue_is_named():
    j = job(1)
    e = explain(world([j], [node("n1")], [QueuePolicy("batch", starts_jobs=False)]), 0, j.id)
    assert (e.reason, e.detail) == ("PartitionDown", "queue batch is not starting jobs")


def test_explain_matches_the_pass():
    j = job(1)
    e = explain(world([j], [node("n1")]), 0, j.id)
    assert e.would_start and e.reason == "None"
