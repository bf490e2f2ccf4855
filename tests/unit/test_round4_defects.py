"""Defects a hostile or careless user found in round 4's features (interactive
allocations, live output, mail, array task refs, submit keys), kept fixed: the pure code."""
from __future__ import annotations

import asyncio
import os

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import allocations
from hpcq.ctld.auth import Caller
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import RecordingComm, make

S = jobs_pb2.JobState
ANN = Caller("ann", "user")


async def _later(requests: asyncio.Queue):
    while (request := await requests.get()) is not None:
        yield request


def test_a_client_that_hangs_up_right_after_its_release_still_frees_its_node(tmp_path):
    """The client releases and cancels its call at once: grpc cancels the stream while the
    release is being stored, after ctld has freed the job's CPUs but before it told the
    node. The node held the allocation (sleep infinity) until its walltime while ctld gave
    its CPUs to other jobs. Now the end runs to its kill whatever becomes of the stream."""
    comm = RecordingComm()
    c, store = make(tmp_path, comm=comm)
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())
    write = c.store.write

    async def scenario() -> jobs_pb2.Job:
        gate, writing = asyncio.Event(), asyncio.Event()

        async def slow_write(changes):
            writing.set()
            await gate.wait()
            await write(changes)

        later: asyncio.Queue = asyncio.Queue()
        rooms = allocations.Allocations(c)
        job = await rooms.open(ANN, jobs_pb2.AllocateRequest(spec=jobs_pb2.JobSpec(name="i")))
        stream = rooms.follow(ANN, job, _later(later))
        await anext(stream)
        await c.schedule_once()
        assert (await anext(stream)).state == S.RUNNING
        c.store.write = slow_write
        later.put_nowait(jobs_pb2.AllocateRequest(release=True, exit_code=0))
        reader = asyncio.ensure_future(anext(stream))
        await writing.wait()
        reader.cancel()                       # the client hung up: grpc cancels the handler
        await asyncio.gather(reader, return_exceptions=True)
        gate.set()
        await asyncio.gather(*rooms._ending)
        return job
    try:
        job = asyncio.run(scenario())
    finally:
        store.close()
    assert job.state == S.COMPLETED
    assert [kind for _, kind in comm.kinds()] == ["launch", "kill"]
    assert c.nodes["n1"].cpus_allocated == 0


def test_a_task_split_out_of_its_array_still_counts_toward_its_throttle():
    """`sbatch --array=0-5%1`, then `scontrol hold 38_3; scontrol release 38_3`: the task got a
    record of its own and started beside 38_0, two tasks of a %1 array. Now a split task
    waits for the array's throttle (JobArrayTaskLimit) and counts toward it when it starts."""
    from hpcq.ctld.scheduler import schedule
    from tests.unit.builders import job, node, reasons, running, started_tasks, world

    rest = job(1, array="4-5", throttle=1)
    task = job(1, task_of=(rest.id, 1))
    decisions = schedule(world([task, rest], [node("n1", 4, used_cpus=1)], running=(
        running("n1", 1, ends=100, array_job_id=rest.id),)), 0)
    assert started_tasks(decisions) == []
    assert reasons(decisions) == {task.id: "JobArrayTaskLimit", rest.id: "JobArrayTaskLimit"}
    # none running yet: one of them starts, and the other waits for it
    decisions = schedule(world([task, rest], [node("n1", 4)]), 0)
    [(started, _)] = started_tasks(decisions)
    assert reasons(decisions)[rest.id if started == task.id else task.id] == "JobArrayTaskLimit"
    # the array's throttle raised since the split (scontrol update ArrayTaskThrottle=4): the task follows it
    raised = job(1, array="4-5", throttle=4, job_id=rest.id)
    decisions = schedule(world([task, raised], [node("n1", 4, used_cpus=1)], running=(
        running("n1", 1, ends=100, array_job_id=rest.id),)), 0)
    assert sorted(started_tasks(decisions)) == sorted([(rest.id, 4), (rest.id, 5), (task.id, None)])


def test_many_refs_to_one_array_parse_its_pending_rest_once(monkeypatch):
    """100,000 task refs in one Cancel or Hold (any user's: the lookup comes before the
    permission check) parsed the named array's pending rest once each: an array of 500
    scattered indices cost ctld 25 s of CPU per request. Now the rest is parsed once and
    an index found by bisection."""
    import random

    from hpcq.ctld import arraytasks, jobtable
    from hpcq.indexset import IndexSet

    random.seed(1)
    rest = IndexSet.of(random.sample(range(1000), 500))
    head = jobs_pb2.Job(id=7, array_job_id=7, array_tasks_pending=str(rest))

    class Table:
        def array_task(self, array_id, index):
            return None

        def get(self, job_id):
            return head if job_id == 7 else None

    parsed = []
    real_parse = IndexSet.parse.__func__
    monkeypatch.setattr(IndexSet, "parse", classmethod(lambda cls, text: parsed.append(text) or real_parse(cls, text)))
    jobtable.pending_tasks.cache_clear()
    found = [arraytasks.find(Table(), 7, i) for i in range(1000)]
    assert len(parsed) == 1
    assert [i for i, t in enumerate(found) if t is not None] == sorted(rest)
    assert all(t.pending and t.job is head for t in found if t is not None)


def test_an_output_offset_past_any_file_is_an_answer_not_a_traceback(tmp_path):
    """`Jobs.Output` with offset 2^63 (a uint64 on the wire): os.pread raised OverflowError
    in noded, which logged a traceback per request and never answered; the follower hung
    30 s and was told the node did not answer. Now noded answers with an error."""
    from hpcq.noded import outputreader, spool

    out = tmp_path / "slurm-5.out"
    out.write_bytes(b"one\n")
    spool.prepare(tmp_path / "spool")
    directory = spool.attempt_dir(tmp_path / "spool", 5, 0)
    spool.make_attempt_dir(directory)
    spool.write_json(directory.supervisor, {"pid": 1, "output": [str(out), None], "uid": os.geteuid(),
                                            "gid": os.getegid()})
    for offset in (2**63, 2**64 - 1):
        got = outputreader.read_output(tmp_path / "spool", nodes_pb2.ReadOutput(request_id=1, job_id=5, offset=offset))
        assert (got.data, got.request_id) == (b"", 1) and "beyond the end of any file" in got.error


def test_an_update_cannot_turn_a_batch_job_into_an_allocation_or_back():
    """Update(fields=["allocation"]) made a queued batch job an allocation no client holds:
    its script never ran and its node held its CPUs until its walltime (for ever without
    one), what Submit refuses (allocations.check_submitted)."""
    import pytest

    from hpcq.ctld import jobs as jobrules
    from hpcq.ctld.errors import InvalidArgument

    for fields in (["allocation"], ["name", "allocation"]):
        with pytest.raises(InvalidArgument, match="'allocation' cannot be changed"):
            jobrules.check_update_fields(fields)
    assert jobrules.check_update_fields(["name", "walltime_seconds"]) == ["name", "walltime_seconds"]


def test_an_array_of_several_parts_is_never_listed_past_a_bound():
    """`--array=0-4294967295,5` (any user, one Submit): the parts were merged by listing
    every index, 4 billion of them, in ctld's loop (5 million took a second of its CPU,
    4 billion more memory than the machine has). Now parts beyond MAX_LISTED indices are
    kept as runs when they do not overlap, refused when they do, in ctld and the shims."""
    import time

    import pytest

    from hpcq.ctld import jobs as jobrules
    from hpcq.ctld.errors import InvalidArgument
    from hpcq.indexset import MAX_LISTED, IndexSet
    from hpcq.shims import jobrefs

    started = time.process_time()
    with pytest.raises(InvalidArgument, match=r"BAD_ARRAY.*more than 1000000 tasks"):
        jobrules.array_tasks(jobs_pb2.JobSpec(array=jobs_pb2.ArraySpec(tasks="10-4294967295,5")))
    with pytest.raises(InvalidArgument, match=r"BAD_ARRAY.*parts that overlap"):
        jobrules.array_tasks(jobs_pb2.JobSpec(array=jobs_pb2.ArraySpec(tasks=f"0-{MAX_LISTED},5")))
    with pytest.raises(jobrefs.JobRefError):
        jobrefs.parse_slurm("7_[0-4294967295,5000000000]", ranges=True)
    apart = IndexSet.parse("900000-999999,5,0-2")
    assert time.process_time() - started < 1.0      # nothing was listed
    assert apart.runs == ((0, 2, 1), (5, 5, 1), (900000, 999999, 1)) and len(apart) == 100_004
    assert 5 in apart and 6 not in apart and str(apart) == "0-2,5,900000-999999"
    assert str(IndexSet.parse("1-3,4,7-9")) == "1-4,7-9"         # few: listed and merged as before


def test_forgetting_a_big_submits_key_is_linear():
    """Every SDK submit is keyed; archiving the 10,000 jobs of one submit looked up, for
    each job, whether any other job of its key was left: 2 s of ctld's loop. Now each
    key counts the jobs it has left."""
    import time

    from hpcq.ctld.submitkeys import SubmitKeys

    keys = SubmitKeys()
    keys.load([("ann k1", ",".join(str(i) for i in range(1, 10_001))), ("bob k1", "20000,20001")])
    started = time.process_time()
    assert keys.forget(range(1, 10_000)) == []
    assert time.process_time() - started < 0.5
    assert keys.answered("ann", "k1") is not None and len(keys) == 2
    [gone] = keys.forget([10_000, 20_000, 77])
    assert gone.key == "ann k1"
    assert keys.answered("ann", "k1") is None and keys.answered("bob", "k1") == [20000, 20001]
    assert len(keys.forget([20_001])) == 1 and len(keys) == 0


def test_many_jobs_after_one_array_task_look_it_up_once_per_pass(tmp_path, monkeypatch):
    """300 pending jobs `--dependency=afterok:A_7`, A a held array of scattered indices:
    each scheduling pass parsed A's pending rest once per dependent job (10,000 of them
    made every pass seconds long). Now a pass looks each target up once, and the parse is
    shared with the task refs' (jobtable.pending_tasks)."""
    from hpcq.ctld import jobs as jobrules
    from hpcq.ctld import jobtable
    from hpcq.indexset import IndexSet

    c, store = make(tmp_path)
    script = "#!/bin/sh\ntrue\n"
    indices = ",".join(str(i) for i in range(0, 1000, 2) if i % 3)
    try:
        [array] = asyncio.run(c.submit("ann", [jobs_pb2.JobSpec(script=script, hold=True,
                                                                array=jobs_pb2.ArraySpec(tasks=indices))]))
        after = jobs_pb2.Dependency(kind=jobs_pb2.Dependency.AFTER_OK,
                                    tasks=[jobs_pb2.Dependency.Task(array_job_id=array, task=4)])
        ids = asyncio.run(c.submit("ann", [jobs_pb2.JobSpec(script=script, dependencies=[after])] * 300))
    finally:
        store.close()
    parsed = []
    real_parse = IndexSet.parse.__func__
    monkeypatch.setattr(IndexSet, "parse", classmethod(lambda cls, text: parsed.append(text) or real_parse(cls, text)))
    jobtable.pending_tasks.cache_clear()
    phases = c.table.dependency_phases([jobrules.request(c.jobs[i]) for i in ids])
    assert len(phases) == 1 and len(parsed) <= 1
