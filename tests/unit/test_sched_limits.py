"""Queue limits, queue state and access, licenses, GPUs, features, exclusive and wide jobs."""
from hpcq.ctld.scheduler import QueuePolicy, explain, schedule
from tests.unit.builders import job, node, reasons, reservations, running, starts, world


def test_max_running_jobs_per_user_counts_running_and_just_started_jobs():
    q = QueuePolicy("batch", max_running_per_user=2)
    r = running("n1", 1, ends=100, user="alice")
    mine = [job(1, user="alice", submit=i) for i in range(3)]
    theirs = job(1, user="bob", submit=9)
    decisions = schedule(world([*mine, theirs], [node("n1", 8, used_cpus=1)], [q], running=(r,)), 0)
    assert sorted(starts(decisions)) == [mine[0].id, theirs.id]
    assert reasons(decisions) == {mine[1].id: "QOSMaxJobsPerUserLimit", mine[2].id: "QOSMaxJobsPerUserLimit"}


def test_max_cpus_per_user():
    q = QueuePolicy("batch", max_cpus_per_user=4)
    big, small, tiny = job(3, submit=0), job(2, submit=1), job(1, submit=2)
    decisions = schedule(world([big, small, tiny], [node("n1", 8)], [q]), 0)
    assert sorted(starts(decisions)) == [big.id, tiny.id]
    assert reasons(decisions) == {small.id: "QOSMaxCpuPerUserLimit"}


def test_limits_are_per_queue():
    q = QueuePolicy("batch", max_running_per_user=1)
    other = QueuePolicy("debug")
    a, b, c = job(1, submit=0), job(1, submit=1), job(1, queue="debug", submit=2)
    decisions = schedule(world([a, b, c], [node("n1", 8)], [q, other]), 0)
    assert sorted(starts(decisions)) == [a.id, c.id]
    assert reasons(decisions) == {b.id: "QOSMaxJobsPerUserLimit"}


def test_whole_queue_limits():
    q = QueuePolicy("batch", max_running=2, max_cpus=3)
    jobs = [job(1, user=u, submit=i) for i, u in enumerate(["a", "b", "c"])]
    decisions = schedule(world(jobs, [node("n1", 8)], [q]), 0)
    assert len(starts(decisions)) == 2 and reasons(decisions) == {jobs[2].id: "QOSGrpJobsLimit"}
    wide = job(4, user="d")
    assert reasons(schedule(world([wide], [node("n1", 8)], [q]), 0)) == {wide.id: "QOSGrpCpuLimit"}


def test_a_limit_is_explained_with_its_numbers():
    q = QueuePolicy("batch", max_running_per_user=1)
    r = running("n1", 1, ends=100, user="alice")
    j = job(1, user="alice")
    e = explain(world([j], [node("n1", 8, used_cpus=1)], [q], running=(r,)), 0, j.id)
    assert e.reason == "QOSMaxJobsPerUserLimit"
    assert e.detail == "queue batch: user alice runs 1 jobs, max_running_per_user is 1"


def test_a_down_queue_starts_nothing_and_a_closed_one_refuses_strangers():
    down = QueuePolicy("batch", starts_jobs=False)
    j = job(1)
    assert reasons(schedule(world([j], [node("n1")], [down]), 0)) == {j.id: "PartitionDown"}
    closed = QueuePolicy("batch", allowed_users=frozenset({"bob"}))
    alice, bob = job(1, user="alice"), job(1, user="bob")
    decisions = schedule(world([alice, bob], [node("n1")], [closed]), 0)
    assert list(starts(decisions)) == [bob.id] and reasons(decisions) == {alice.id: "PartitionConfig"}


def test_licenses_are_counted_across_running_jobs():
    r = running("n1", 1, ends=100, licenses={"matlab": 2})
    first = job(1, licenses={"matlab": 1}, submit=0)
    second = job(1, licenses={"matlab": 1}, submit=1)
    plain = job(1, submit=2)
    decisions = schedule(world([first, second, plain], [node("n1", 8, used_cpus=1)], running=(r,),
                               licenses={"matlab": 3}), 0)
    assert sorted(starts(decisions)) == [first.id, plain.id]
    assert reasons(decisions) == {second.id: "Licenses"}


def test_licenses_go_in_priority_order():
    hungry = job(1, licenses={"matlab": 3}, priority=9)
    modest = job(1, licenses={"matlab": 1}, priority=1)
    r = running("n1", 1, ends=100, licenses={"matlab": 1})
    decisions = schedule(world([hungry, modest], [node("n1", 8, used_cpus=1)], running=(r,),
                               licenses={"matlab": 3}), 0)
    assert starts(decisions) == {}
    assert reasons(decisions) == {hungry.id: "Licenses", modest.id: "Licenses"}
    e = explain(world([hungry, modest], [node("n1", 8, used_cpus=1)], running=(r,), licenses={"matlab": 3}), 0,
                modest.id)
    assert "a higher-priority job waits for it" in e.detail


def test_an_unknown_license_never_starts():
    j = job(1, licenses={"ansys": 1})
    assert reasons(schedule(world([j], [node("n1")]), 0)) == {j.id: "Licenses"}


def test_gpus_per_node_are_counted():
    a, b, c = job(1, gpus=2, submit=0), job(1, gpus=2, submit=1), job(1, gpus=1, submit=2)
    nodes = [node("g1", 8, gpus=4), node("c1", 8)]
    decisions = schedule(world([a, b, c], nodes), 0)
    placed = starts(decisions)
    assert {placed[a.id][0].node, placed[b.id][0].node} == {"g1"} and placed[a.id][0].gpus == 2
    assert reasons(decisions) == {c.id: "Resources"}


def test_cpu_jobs_prefer_nodes_that_fit_them_tightly_even_with_gpus_around():
    j = job(2)
    placed = starts(schedule(world([j], [node("g1", 8, gpus=4), node("c1", 4)]), 0))
    assert placed[j.id][0].node == "c1"


def test_features_must_all_be_present():
    j = job(1, features=frozenset({"avx512", "ib"}))
    nodes = [node("a", features=frozenset({"avx512"})), node("b", features=frozenset({"avx512", "ib", "ssd"}))]
    assert starts(schedule(world([j], nodes), 0))[j.id][0].node == "b"
    assert reasons(schedule(world([j], nodes[:1]), 0)) == {j.id: "ReqNodeNotAvail"}


def test_an_exclusive_job_gets_a_whole_idle_node_and_keeps_others_off():
    ex = job(1, exclusive=True, submit=0)
    other = job(1, submit=1)
    decisions = schedule(world([ex, other], [node("n1", 4)]), 0)
    assert starts(decisions)[ex.id][0].cpus == 4
    assert reasons(decisions) == {other.id: "Resources"}


def test_an_exclusive_job_is_reserved_when_its_node_empties():
    r1, r2 = running("n1", 1, ends=50), running("n1", 1, ends=80)
    ex = job(1, exclusive=True, walltime=10)
    decisions = schedule(world([ex], [node("n1", 4, used_cpus=2)], running=(r1, r2)), 0)
    assert reservations(decisions)[ex.id].start_at == 80


def test_a_multi_node_job_needs_all_its_nodes_at_once():
    wide = job(4, nodes=3, submit=0)
    decisions = schedule(world([wide], [node("n1", 4), node("n2", 4), node("n3", 4, used_cpus=1)]), 0)
    assert reasons(decisions) == {wide.id: "Resources"}
    decisions = schedule(world([wide], [node("n1", 4), node("n2", 4), node("n3", 4)]), 0)
    assert [s.node for s in starts(decisions)[wide.id]] == ["n1", "n2", "n3"]


def test_more_nodes_than_the_queue_has():
    wide = job(1, nodes=2)
    q = QueuePolicy("batch", nodes=frozenset({"n1"}))
    assert reasons(schedule(world([wide], [node("n1"), node("n2")], [q]), 0)) == {wide.id: "PartitionNodeLimit"}


def test_best_fit_keeps_big_holes_for_big_jobs():
    small, big = job(2, submit=0), job(8, submit=1)
    nodes = [node("big", 8), node("half", 4, used_cpus=2)]
    placed = starts(schedule(world([small, big], nodes), 0))
    assert placed[small.id][0].node == "half" and placed[big.id][0].node == "big"


def test_memory_is_checked_per_node():
    j = job(1, mem=5000)
    nodes = [node("n1", 8, mem=8000, used_mem=4000), node("n2", 8, mem=16000)]
    assert starts(schedule(world([j], nodes), 0))[j.id][0].node == "n2"


def test_jobs_of_an_unknown_queue_may_use_every_node():
    j = job(1, queue="ghost")
    assert list(starts(schedule(world([j], [node("n1")]), 0))) == [j.id]


def test_a_users_running_jobs_are_capped_across_every_queue():
    from hpcq.ctld.scheduler import UserLimits
    debug = QueuePolicy("debug")
    r = running("n1", 1, ends=100, user="alice")
    mine = [job(1, user="alice", submit=0), job(1, user="alice", queue="debug", submit=1),
            job(1, user="alice", submit=2)]
    theirs = job(1, user="bob", submit=3)
    decisions = schedule(world([*mine, theirs], [node("n1", 8, used_cpus=1)], [QueuePolicy("batch"), debug],
                               running=(r,), user_limits=UserLimits(max_running_jobs=2)), 0)
    assert sorted(starts(decisions)) == [mine[0].id, theirs.id]
    assert reasons(decisions) == {mine[1].id: "AssocMaxJobsLimit", mine[2].id: "AssocMaxJobsLimit"}


def test_a_users_running_cpus_are_capped_and_explained():
    from hpcq.ctld.scheduler import UserLimits
    big, small = job(3, user="alice", submit=0), job(2, user="alice", submit=1)
    limits = UserLimits(max_running_cpus=4)
    decisions = schedule(world([big, small], [node("n1", 8)], user_limits=limits), 0)
    assert list(starts(decisions)) == [big.id] and reasons(decisions) == {small.id: "AssocGrpCpuLimit"}
    r = running("n1", 3, ends=100, user="alice")
    e = explain(world([small], [node("n1", 8, used_cpus=3)], running=(r,), user_limits=limits), 0, small.id)
    assert e.reason == "AssocGrpCpuLimit"
    assert e.detail == "user alice uses 3 CPUs, this job needs 2, max_running_cpus is 4"
