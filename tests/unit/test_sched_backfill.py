"""EASY backfill with walltimes: reservations for the top blocked jobs, small jobs in the holes."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcq.ctld.scheduler import Reserve, Start, schedule
from hpcq.ctld.scheduler.cluster import Cluster
from tests.unit.builders import after, busy_node, job, node, reasons, replace, reservations, running, starts, world


def test_a_blocked_job_gets_a_reservation_when_its_resources_free_up():
    r = running("n1", 2, ends=100)
    big = job(4, walltime=50)
    decisions = schedule(world([big], [busy_node("n1", 4, jobs=[r])], running=(r,)), now=0)
    assert reservations(decisions) == {big.id: Reserve(big.id, 100, ("n1",))}
    assert reasons(decisions) == {big.id: "Resources"}


def test_the_reservation_takes_the_node_that_frees_first():
    late, soon = running("n1", 4, ends=300), running("n2", 4, ends=100)
    big = job(4, walltime=50)
    nodes = [busy_node("n1", 4, jobs=[late]), busy_node("n2", 4, jobs=[soon])]
    assert reservations(schedule(world([big], nodes, running=(late, soon)), 0))[big.id].nodes == ("n2",)


def test_a_short_job_fills_the_hole_and_a_long_one_waits():
    r = running("n1", 2, ends=100)
    big = job(4, walltime=50, priority=3)
    long = job(2, walltime=200, priority=2)
    short = job(2, walltime=100, priority=1)      # ends exactly when the reservation begins
    decisions = schedule(world([big, long, short], [busy_node("n1", 4, jobs=[r])], running=(r,)), 0)
    assert list(starts(decisions)) == [short.id]
    assert reservations(decisions)[big.id].start_at == 100
    assert reasons(decisions) == {big.id: "Resources", long.id: "Priority"}


def test_a_long_job_may_use_what_the_reservation_leaves():
    r = running("n1", 6, ends=100)
    big = job(4, walltime=50, priority=3)          # at 100 there are 8 free: 4 for big, 4 to spare
    long = job(2, walltime=10_000, priority=1)
    decisions = schedule(world([big, long], [busy_node("n1", 8, jobs=[r])], running=(r,)), 0)
    assert list(starts(decisions)) == [long.id]
    assert reservations(decisions)[big.id].start_at == 100


def test_a_long_job_may_use_a_node_the_reservation_does_not_need():
    r = running("n1", 4, ends=100)
    big = job(4, walltime=50, priority=3, features=frozenset({"big"}))
    long = job(4, walltime=10_000, priority=1)
    nodes = [node("n1", 4, used_cpus=4, features=frozenset({"big"})), node("n3", 4)]
    decisions = schedule(world([big, long], nodes, running=(r,)), 0)
    assert starts(decisions)[long.id][0].node == "n3"
    assert reservations(decisions)[big.id].nodes == ("n1",)


def test_a_job_without_a_walltime_never_backfills_before_a_reservation():
    r = running("n1", 2, ends=100)
    big = job(4, walltime=50, priority=3)
    endless = job(1, walltime=0, priority=1)
    decisions = schedule(world([big, endless], [busy_node("n1", 4, jobs=[r])], running=(r,)), 0)
    assert starts(decisions) == {}
    assert reasons(decisions)[endless.id] == "Priority"


def test_a_node_held_for_ever_by_a_job_without_walltime_gives_no_reservation():
    r = running("n1", 4, ends=None)
    big = job(4, walltime=50)
    decisions = schedule(world([big], [busy_node("n1", 4, jobs=[r])], running=(r,)), 0)
    assert reservations(decisions) == {}
    assert reasons(decisions) == {big.id: "Resources"}


def test_the_number_of_reservations_is_a_snapshot_setting():
    r1, r2 = running("n1", 4, ends=100), running("n2", 4, ends=200)
    a, b = job(4, walltime=300, priority=3), job(4, walltime=300, priority=2)
    filler = job(1, walltime=10_000, priority=1)
    nodes = [busy_node("n1", 4, jobs=[r1]), busy_node("n2", 4, jobs=[r2]), node("n3", 1)]
    none = schedule(world([a, b, filler], nodes, running=(r1, r2), reservations=0), 0)
    assert reservations(none) == {} and list(starts(none)) == [filler.id]
    two = schedule(world([a, b, filler], nodes, running=(r1, r2), reservations=2), 0)
    assert {j: (res.start_at, res.nodes) for j, res in reservations(two).items()} == {
        a.id: (100, ("n1",)), b.id: (200, ("n2",))}
    assert list(starts(two)) == [filler.id]       # n3 is no use to either reservation


def test_a_second_reservation_waits_behind_the_first():
    r = running("n1", 4, ends=100)
    a, b = job(4, walltime=50, priority=3), job(4, walltime=50, priority=2)
    decisions = schedule(world([a, b], [busy_node("n1", 4, jobs=[r])], running=(r,), reservations=2), 0)
    assert {j: res.start_at for j, res in reservations(decisions).items()} == {a.id: 100, b.id: 150}


def test_a_wide_job_is_reserved_when_enough_nodes_are_free_together():
    r1, r2 = running("n1", 4, ends=100), running("n2", 4, ends=300)
    wide = job(4, nodes=2, walltime=50)
    nodes = [busy_node("n1", 4, jobs=[r1]), busy_node("n2", 4, jobs=[r2])]
    plan = reservations(schedule(world([wide], nodes, running=(r1, r2)), 0))[wide.id]
    assert (plan.start_at, plan.nodes) == (300, ("n1", "n2"))


def test_an_overrunning_job_counts_as_ending_now():
    r = running("n1", 4, ends=50, start=0)
    big = job(4, walltime=50)
    plan = reservations(schedule(world([big], [busy_node("n1", 4, jobs=[r])], running=(r,)), 100))[big.id]
    assert 100 < plan.start_at <= 101


def test_best_fit_takes_the_tightest_node():
    j = job(2)
    placed = starts(schedule(world([j], [node("n1", 8), node("n2", 4, used_cpus=1), node("n3", 4)]), 0))
    assert placed[j.id][0].node == "n2"


def test_a_job_that_fits_later_still_starts_when_nothing_is_reserved_on_its_nodes():
    j = job(1, walltime=10)
    many = [job(1, walltime=10, submit=i) for i in range(1, 4)]
    placed = starts(schedule(world([j, *many], [node("n1", 4)]), 0))
    assert len(placed) == 4


# --- the property: backfill never delays a reservation --------------------------

NOW = 1000.0


@st.composite
def workloads(draw):
    nodes, active = [], []
    for i in range(draw(st.integers(1, 5))):
        name = f"n{i}"
        cpus = draw(st.sampled_from([1, 2, 4, 8]))
        mem = 1000 * cpus
        used_c = used_m = 0
        for _ in range(draw(st.integers(0, 3))):
            c = draw(st.integers(1, cpus))
            m = draw(st.sampled_from([0, 500, 1000])) * c
            if used_c + c > cpus or used_m + m > mem:
                break
            started = NOW - draw(st.integers(0, 100))
            ends = None if draw(st.integers(0, 9)) == 0 else NOW + draw(st.integers(-5, 200))
            active.append(running(name, c, mem=m, start=started, ends=ends))
            used_c, used_m = used_c + c, used_m + m
        here = busy_node(name, cpus, mem=mem, jobs=[r for r in active if r.slices[0].node == name])
        nodes.append(replace(here, features=frozenset({"f"})) if draw(st.booleans()) else here)
    pending = []
    for k in range(draw(st.integers(1, 12))):
        pending.append(job(draw(st.integers(1, 8)), nodes=draw(st.integers(1, 2)),
                           mem=draw(st.sampled_from([0, 0, 500, 2000])), walltime=draw(st.integers(1, 300)),
                           priority=draw(st.integers(1, 50)), submit=float(k),
                           exclusive=draw(st.integers(0, 7)) == 0,
                           features=draw(st.sampled_from([frozenset(), frozenset(), frozenset({"f"})]))))
    return world(pending, nodes, running=tuple(active), reservations=draw(st.integers(1, 3)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads())
def test_no_backfilled_job_moves_a_reservation_later(snapshot):
    decisions = schedule(snapshot, NOW)
    assert decisions == schedule(snapshot, NOW)             # deterministic
    planned = [d for d in decisions if isinstance(d, Reserve)]
    assert all(p.start_at > NOW for p in planned)          # a job that could start now would have
    later = after(snapshot, decisions, NOW)
    assert all(n.cpus_free >= 0 and n.mem_free_mb >= 0 for n in later.nodes)
    # Every job started in the pass now runs. Plan each reserved job again, with the
    # reservations above it held exactly as the pass held them: none may come later.
    jobs = {j.id: j for j in snapshot.pending}
    cluster = Cluster(later.nodes, later.running, later.queues, NOW)
    for p in planned:
        again = cluster.plan(jobs[p.job_id])
        assert again is not None and again[0] <= p.start_at, (p, again)
        cluster.hold(jobs[p.job_id], p.start_at, [cluster.by_name[name] for name in p.nodes])
    # And through the public entry point, with one reservation: the same plan again.
    if planned and snapshot.reservations == 1:
        first = planned[0]
        replanned = reservations(schedule(later, NOW))
        assert replanned[first.job_id].start_at <= first.start_at


def test_starts_in_a_pass_never_overcommit_a_node():
    nodes = [node("n1", 4, mem=4000)]
    jobs = [job(1, mem=1500, submit=i) for i in range(5)]
    decisions = schedule(world(jobs, nodes), 0)
    assert len(starts(decisions)) == 2
    assert all(isinstance(d, Start) or d.reason in ("Resources", "Priority") for d in decisions
               if not isinstance(d, Reserve))
