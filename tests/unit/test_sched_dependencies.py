"""Dependencies: both syntaxes, every kind in every phase, any-of, singleton, in a pass."""
import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld.scheduler import (
    Dependencies,
    DependencyError,
    Kind,
    Phase,
    Target,
    Term,
    Verdict,
    evaluate,
    parse_hold_jid,
    parse_pbs,
    parse_slurm,
    schedule,
)
from hpcq.ctld.scheduler.dependencies import describe, find_cycle, from_proto, to_proto
from tests.unit.builders import job, node, reasons, running, started_tasks, starts, world

W, R, OK, BAD = Phase.WAITING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED
SAT, WAIT, NEVER = Verdict.SATISFIED, Verdict.WAITING, Verdict.NEVER

# --- parsing -------------------------------------------------------------------


def test_slurm_all_of():
    d = parse_slurm("afterok:1:2,afterany:3")
    assert d == Dependencies((Term(Kind.AFTER_OK, (Target(1), Target(2))), Term(Kind.AFTER_ANY, (Target(3),))))
    assert d.slurm() == "afterok:1:2,afterany:3"


def test_slurm_any_of_array_task_and_singleton():
    d = parse_slurm("afterok:7_3?afternotok:8?singleton")
    assert d.any_of and d.singleton
    assert d.terms[0] == Term(Kind.AFTER_OK, (Target(7, 3),))
    assert d.slurm() == "afterok:7_3?afternotok:8?singleton"
    assert parse_slurm("after:5").terms == (Term(Kind.AFTER, (Target(5),)),)


@pytest.mark.parametrize("text, names", [
    ("", "empty"),
    ("afterok", "no job id"),
    ("afterok:", "no job id"),
    ("afterok:1:", "'' is not a job id"),
    ("sometime:1", "unknown type 'sometime'"),
    ("afterok:1:x", "'x' is not a job id"),
    ("afterok:1,afterany:2?after:3", "cannot be mixed"),
    ("singleton:4", "singleton takes no job ids"),
    ("after:1+5", "'1+5'"),
    ("aftercorr:1", "aftercorr is not supported"),
    ("afterok:1_x", "'1_x'"),
])
def test_slurm_errors_name_the_bad_part(text, names):
    with pytest.raises(DependencyError, match=names.replace("+", r"\+").replace("?", r"\?")):
        parse_slurm(text)


def test_pbs_depend():
    d = parse_pbs("depend=afterok:11.pbshost@pbshost:12,afternotok:13.pbshost")
    assert d == Dependencies((Term(Kind.AFTER_OK, (Target(11), Target(12))), Term(Kind.AFTER_NOT_OK, (Target(13),))))
    assert d.pbs("pbshost") == "afterok:11.pbshost:12.pbshost,afternotok:13.pbshost"
    assert parse_pbs("afterany:5[].server").terms[0].targets == (Target(5),)          # the whole array
    assert parse_pbs("afterok:5[3].server").terms[0].targets == (Target(5, 3),)       # one subjob


@pytest.mark.parametrize("text, names", [
    ("", "empty"),
    ("beforeok:1", "beforeok is not supported"),
    ("on:2", "on is not supported"),
    ("afterok:abc", "'abc' is not a job id"),
    ("singleton", "unknown type 'singleton'"),
    ("afterok", "no job id"),
])
def test_pbs_errors_name_the_bad_part(text, names):
    with pytest.raises(DependencyError, match=names):
        parse_pbs(text)


def test_hold_jid_is_afterany_on_each():
    expected = Term(Kind.AFTER_ANY, (Target(1), Target(2), Target(3, 4)))
    assert parse_hold_jid("1,2.server,3_4") == Dependencies((expected,))
    for bad in ("", "1,,2", "x"):
        with pytest.raises(DependencyError, match="hold_jid"):
            parse_hold_jid(bad)


def test_the_api_message_round_trips():
    d = parse_slurm("afterok:1:2?afterany:3?singleton")
    messages, any_of = to_proto(d)
    assert any_of and [m.kind for m in messages] == [jobs_pb2.Dependency.AFTER_OK, jobs_pb2.Dependency.AFTER_ANY,
                                                     jobs_pb2.Dependency.SINGLETON]
    assert list(messages[0].job_ids) == [1, 2]
    spec = jobs_pb2.JobSpec(dependencies=messages, dependency_any=any_of)
    assert from_proto(spec.dependencies, spec.dependency_any) == d
    assert from_proto([]) is None


def test_an_array_task_travels_in_tasks_and_a_whole_array_in_job_ids():
    messages, _ = to_proto(parse_slurm("afterok:2:1_3:0_0"))
    assert list(messages[0].job_ids) == [2]
    assert [(t.array_job_id, t.task) for t in messages[0].tasks] == [(1, 3), (0, 0)]
    assert from_proto(messages) == parse_slurm("afterok:2:1_3:0_0")


# --- evaluation ------------------------------------------------------------------

TABLE = {
    #               waiting running succeeded failed  purged
    Kind.AFTER:        (WAIT, SAT, SAT, SAT, SAT),
    Kind.AFTER_OK:     (WAIT, WAIT, SAT, NEVER, SAT),
    Kind.AFTER_NOT_OK: (WAIT, WAIT, NEVER, SAT, SAT),
    Kind.AFTER_ANY:    (WAIT, WAIT, SAT, SAT, SAT),
}


@pytest.mark.parametrize("kind", list(TABLE))
def test_every_kind_in_every_phase(kind):
    for phase, expected in zip((W, R, OK, BAD, None), TABLE[kind], strict=True):
        phases = {} if phase is None else {Target(1): phase}
        assert evaluate(Dependencies((Term(kind, (Target(1),)),)), phases) is expected, (kind, phase)


def test_all_of_needs_every_job_and_fails_with_any():
    d = parse_slurm("afterok:1:2,afterany:3")
    assert evaluate(d, {Target(1): OK, Target(2): OK, Target(3): BAD}) is SAT
    assert evaluate(d, {Target(1): OK, Target(2): R, Target(3): BAD}) is WAIT
    assert evaluate(d, {Target(1): BAD, Target(2): R, Target(3): W}) is NEVER


def test_any_of_needs_one_and_fails_only_when_all_fail():
    d = parse_slurm("afterok:1?afterok:2")
    assert evaluate(d, {Target(1): BAD, Target(2): W}) is WAIT
    assert evaluate(d, {Target(1): BAD, Target(2): OK}) is SAT
    assert evaluate(d, {Target(1): BAD, Target(2): BAD}) is NEVER


def test_singleton_waits_while_a_namesake_runs():
    d = parse_slurm("singleton")
    assert evaluate(d, {}, singleton_busy=True) is WAIT
    assert evaluate(d, {}, singleton_busy=False) is SAT


def test_a_whole_array_combines_its_tasks():
    assert Phase.combine([OK, OK, W]) is W            # the pending rest counts as waiting
    assert Phase.combine([OK, R, OK]) is R
    assert Phase.combine([OK, BAD, OK]) is BAD
    assert Phase.combine([OK, OK]) is OK
    assert Phase.of_state("TIMEOUT") is BAD and Phase.of_state("COMPLETING") is R and Phase.of_state("HELD") is W


def test_describe_reads_like_scontrol():
    d = parse_slurm("afterok:11254,afterany:9")
    assert describe(d, {Target(11254): BAD, Target(9): R}) == "afterok:11254(failed),afterany:9(unfulfilled)"


# --- in a pass -------------------------------------------------------------------


def test_a_pass_gives_dependency_reasons_and_starts_what_is_satisfied():
    waits = job(1, depends="afterok:100")
    never = job(1, depends="afterok:101")
    goes = job(1, depends="afterany:101")
    phases = {Target(100): R, Target(101): BAD}
    decisions = schedule(world([waits, never, goes], [node("n1", 4)], phases=phases), 0)
    assert list(starts(decisions)) == [goes.id]
    assert reasons(decisions) == {waits.id: "Dependency", never.id: "DependencyNeverSatisfied"}


def test_any_of_in_a_pass():
    j = job(1, depends="afterok:100?afternotok:101")
    assert list(starts(schedule(world([j], [node("n1")], phases={Target(100): BAD, Target(101): BAD}), 0))) == [j.id]
    assert reasons(schedule(world([j], [node("n1")], phases={Target(100): BAD, Target(101): OK}), 0)) == {
        j.id: "DependencyNeverSatisfied"}


def test_a_dependency_on_one_array_task():
    j = job(1, depends="afterok:50_2")
    phases = {Target(50, 1): BAD, Target(50, 2): OK, Target(50): BAD}
    assert list(starts(schedule(world([j], [node("n1")], phases=phases), 0))) == [j.id]


def test_singleton_runs_one_job_of_a_name_at_a_time():
    runs = running("n1", 1, ends=100, name="nightly", user="alice")
    later = job(1, depends="singleton", name="nightly", user="alice")
    other_user = job(1, depends="singleton", name="nightly", user="bob")
    decisions = schedule(world([later, other_user], [node("n1", 4, used_cpus=1)], running=(runs,)), 0)
    assert list(starts(decisions)) == [other_user.id]
    assert reasons(decisions) == {later.id: "Dependency"}


def test_two_pending_singletons_of_a_name_start_one_per_pass():
    a = job(1, depends="singleton", name="sync", submit=1)
    b = job(1, depends="singleton", name="sync", submit=2)
    decisions = schedule(world([a, b], [node("n1", 4)]), 0)
    assert list(starts(decisions)) == [a.id] and reasons(decisions) == {b.id: "Dependency"}


def test_a_dependency_on_a_whole_array_waits_for_its_rest():
    arr = job(1, array="1-3", throttle=1, submit=0)
    dep = job(1, depends=f"afterany:{arr.id}", submit=1)
    phases = {Target(arr.id): W}
    decisions = schedule(world([arr, dep], [node("n1", 4)], phases=phases), 0)
    assert started_tasks(decisions) == [(arr.id, 1)]
    assert reasons(decisions) == {arr.id: "JobArrayTaskLimit", dep.id: "Dependency"}


def test_a_changed_dependency_that_closes_a_loop_is_found():
    existing = {2: parse_slurm("afterok:3"), 3: parse_slurm("afterany:1_4")}
    assert find_cycle(1, parse_slurm("afterok:2"), existing.get) == [1, 2, 3, 1]
    assert find_cycle(1, parse_slurm("afterok:3?afterok:9"), existing.get) == [1, 3, 1]
    assert find_cycle(5, parse_slurm("afterok:2"), existing.get) is None
    assert find_cycle(1, parse_slurm("singleton"), existing.get) is None
