from hpcq.ctld.scheduler import SetReason, Slice, Start, schedule
from tests.unit.builders import QueuePolicy, job, node, world


def starts(decisions):
    return {d.job_id: d.slices for d in decisions if isinstance(d, Start)}


def reasons(decisions):
    return {d.job_id: d.reason for d in decisions if isinstance(d, SetReason)}


def test_higher_priority_goes_first_when_only_one_fits():
    low = job(4, priority=1, submit=1.0)
    high = job(4, priority=9, submit=2.0)
    decisions = schedule(world([low, high], [node("n1", 4)]), now=10.0)
    assert list(starts(decisions)) == [high.id]
    assert reasons(decisions) == {low.id: "Resources"}


def test_equal_priority_runs_in_submit_order():
    first, second = job(4, submit=1.0), job(4, submit=2.0)
    assert list(starts(schedule(world([second, first], [node("n1", 4)]), 0))) == [first.id]


def test_first_fit_packs_nodes_in_name_order():
    a, b, c = job(2, submit=1), job(2, submit=2), job(2, submit=3)
    placed = starts(schedule(world([a, b, c], [node("n2", 4), node("n1", 4)]), 0))
    assert [placed[j.id][0].node for j in (a, b, c)] == ["n1", "n1", "n2"]


def test_memory_is_a_limit_too():
    big = job(1, mem=6000)
    decisions = schedule(world([big, job(1, mem=6000, submit=1)], [node("n1", 4, mem=8000)]), 0)
    assert list(starts(decisions)) == [big.id]


def test_multi_node_job_takes_one_slice_per_node():
    wide = job(2, nodes=2, mem=100)
    placed = starts(schedule(world([wide], [node("n1", 2), node("n2", 2)]), 0))
    assert placed[wide.id] == (Slice("n1", 2, 100, 0, (0, 1)), Slice("n2", 2, 100, 0, (0, 1)))


def test_a_job_no_node_could_ever_hold_says_so():
    huge = job(64)
    assert reasons(schedule(world([huge], [node("n1", 4)]), 0)) == {huge.id: "ReqNodeNotAvail"}


def test_jobs_behind_a_blocked_job_in_its_queue_wait_for_priority():
    blocked, small = job(4, submit=1), job(4, submit=2)
    decisions = schedule(world([blocked, small], [node("n1", 4, used_cpus=2)]), 0)
    assert reasons(decisions) == {blocked.id: "Resources", small.id: "Priority"}


def test_queue_node_sets_restrict_placement():
    gpu_job = job(1, queue="gpu")
    queues = [QueuePolicy("batch"), QueuePolicy("gpu", nodes=frozenset({"g1"}))]
    placed = starts(schedule(world([gpu_job], [node("n1"), node("g1")], queues), 0))
    assert placed[gpu_job.id][0].node == "g1"


def test_a_stopped_queue_starts_nothing():
    j = job(1, queue="q")
    decisions = schedule(world([j], [node("n1")], [QueuePolicy("q", starts_jobs=False)]), 0)
    assert reasons(decisions) == {j.id: "PartitionDown"}


def test_exclusive_job_needs_an_idle_node_and_takes_all_of_it():
    ex = job(1, exclusive=True)
    busy = node("n1", 4, used_cpus=1)
    idle = node("n2", 4)
    placed = starts(schedule(world([ex], [busy, idle]), 0))
    assert placed[ex.id] == (Slice("n2", 4, 8000, 0, (0, 1, 2, 3)),)


def test_gpus_and_features_must_match():
    needs_gpu = job(1, gpus=1)
    needs_feature = job(1, features=frozenset({"avx512"}), submit=1)
    nodes = [node("cpu1", features=frozenset({"avx512"})), node("gpu1", gpus=2)]
    placed = starts(schedule(world([needs_gpu, needs_feature], nodes), 0))
    assert placed[needs_gpu.id][0].node == "gpu1"
    assert placed[needs_feature.id][0].node == "cpu1"


def test_excluded_nodes_are_skipped():
    j = job(1, exclude=frozenset({"n1"}))
    assert starts(schedule(world([j], [node("n1"), node("n2")]), 0))[j.id][0].node == "n2"
