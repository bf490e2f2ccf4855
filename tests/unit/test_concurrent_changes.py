"""Changes that meet while one of them waits for its commit, on a real controller and store:
two admins at the same queue, a submit racing its queue's deletion, and a caller that goes
away (a deadline, a ^C: grpc cancels the handler) between a change's commit and its apply.
Every case ends with memory and store agreeing, as a restart would load them."""
from __future__ import annotations

import asyncio

import pytest

from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.ctld import auth, server
from hpcq.ctld.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.store.writer import StoreError
from tests.unit.controllers import make
from tests.unit.test_read_rules import Context, Gate

SCRIPT = "#!/bin/sh\ntrue\n"


def held(queue: str = "") -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(script=SCRIPT, hold=True, queue=queue)


def stored_queues(tmp_path) -> set[str]:
    """The queues a restarted ctld would load."""
    c, store = make(tmp_path)
    names = set(c.queues)
    store.close()
    return names


def outcome(result: object) -> str:
    """A change's result as its refusal's token, or "ok"."""
    if isinstance(result, DomainError):
        return result.token
    assert not isinstance(result, BaseException), result
    return "ok"


async def together(*coroutines):
    """Run `coroutines` at once, in the order given up to their first wait; each's result or error."""
    return await asyncio.gather(*coroutines, return_exceptions=True)


def test_two_deletes_of_one_queue_at_once_one_deletes_and_the_other_is_told_it_is_gone(tmp_path):
    c, store = make(tmp_path)

    async def scenario():
        await c.put_queue(admin_pb2.Queue(name="short"), create=True)
        return await together(c.delete_queue("short"), c.delete_queue("short"))
    first, second = asyncio.run(scenario())
    store.close()
    assert first is None and isinstance(second, NotFound), (first, second)
    assert "short" not in c.queues and "short" not in stored_queues(tmp_path)


def test_two_creates_of_one_name_at_once_one_creates_and_the_other_is_told_it_exists(tmp_path):
    c, store = make(tmp_path)

    async def scenario():
        return await together(c.put_queue(admin_pb2.Queue(name="short", priority=1), create=True),
                              c.put_queue(admin_pb2.Queue(name="short", priority=2), create=True))
    first, second = asyncio.run(scenario())
    store.close()
    assert isinstance(first, admin_pb2.Queue) and isinstance(second, AlreadyExists), (first, second)
    assert c.queues["short"].priority == 1
    c, store = make(tmp_path)
    assert c.queues["short"].priority == 1
    store.close()


@pytest.mark.parametrize("delete_first", [False, True])
def test_an_update_racing_a_delete_leaves_the_queue_as_the_store_has_it(tmp_path, delete_first):
    c, store = make(tmp_path)

    async def scenario():
        await c.put_queue(admin_pb2.Queue(name="short"), create=True)
        update = c.put_queue(admin_pb2.Queue(name="short", priority=5), create=False, fields=["priority"])
        delete = c.delete_queue("short")
        return await together(*((delete, update) if delete_first else (update, delete)))
    results = asyncio.run(scenario())
    store.close()
    updated, deleted = (results[1], results[0]) if delete_first else results
    assert [outcome(updated), outcome(deleted)] == (["UNKNOWN_QUEUE", "ok"] if delete_first else ["ok", "ok"])
    assert "short" not in c.queues and "short" not in stored_queues(tmp_path)


@pytest.mark.parametrize("delete_first", [False, True])
def test_a_submit_racing_its_queues_deletion_either_keeps_the_queue_or_is_refused(tmp_path, delete_first):
    """Never both: a stored job in a queue that no longer exists."""
    c, store = make(tmp_path)

    async def scenario():
        await c.put_queue(admin_pb2.Queue(name="short"), create=True)
        submit, delete = c.submit("alice", [held("short")]), c.delete_queue("short")
        return await together(*((delete, submit) if delete_first else (submit, delete)))
    results = asyncio.run(scenario())
    store.close()
    submitted, deleted = (results[1], results[0]) if delete_first else results
    if delete_first:
        assert deleted is None and isinstance(submitted, InvalidArgument), results
        assert submitted.token == "UNKNOWN_QUEUE"
    else:
        assert isinstance(submitted, list) and isinstance(deleted, FailedPrecondition), results
        assert deleted.token == "QUEUE_BUSY"
    assert ("short" in c.queues) == ("short" in stored_queues(tmp_path)) == (not delete_first)


@pytest.mark.parametrize("delete_first", [False, True])
def test_a_job_moving_to_a_queue_being_deleted_either_keeps_the_queue_or_is_refused(tmp_path, delete_first):
    c, store = make(tmp_path)

    async def scenario():
        await c.put_queue(admin_pb2.Queue(name="short"), create=True)
        [j] = await c.submit("alice", [held()])
        move = c.update(c.get(j), jobs_pb2.JobSpec(queue="short"), ["queue"])
        delete = c.delete_queue("short")
        return j, await together(*((delete, move) if delete_first else (move, delete)))
    j, results = asyncio.run(scenario())
    store.close()
    moved, deleted = (results[1], results[0]) if delete_first else results
    assert [outcome(moved), outcome(deleted)] == (["UNKNOWN_QUEUE", "ok"] if delete_first else
                                                  ["ok", "QUEUE_BUSY"])
    assert c.get(j).queue in c.queues


def test_a_submit_whose_caller_goes_away_during_its_commit_is_queued_and_its_retry_answers_it(tmp_path):
    """Cancelled between commit and apply, a submit used to be stored but not queued, and
    its key not remembered: the client's retry stored the job a second time."""
    c, store = make(tmp_path)
    submits = server.JobsServicer(c, Gate(auth.Caller("alice", "user")))
    keyed = jobs_pb2.SubmitRequest(specs=[held()], idempotency_key="k-1")

    async def scenario():
        next_id = c.table.next_job_id
        first = asyncio.ensure_future(submits.Submit(keyed, Context()))
        while c.table.next_job_id == next_id:      # until its id is given: it waits for its commit now
            await asyncio.sleep(0)
        first.cancel()
        retry = await submits.Submit(keyed, Context())
        return next_id, retry
    job_id, retry = asyncio.run(scenario())
    store.close()
    assert list(retry.job_ids) == [job_id] and retry.repeated_submit
    assert c.get(job_id).state == jobs_pb2.HELD                 # in the table, as submitted
    c, store = make(tmp_path)
    assert sorted(c.jobs) == [job_id]
    store.close()


def test_a_queue_deletion_whose_caller_goes_away_during_its_commit_is_carried_through(tmp_path):
    c, store = make(tmp_path)
    admin = server.AdminServicer(c, Gate(auth.Caller("root", "admin")))

    async def scenario():
        await c.put_queue(admin_pb2.Queue(name="short"), create=True)
        deleting = asyncio.ensure_future(admin.DeleteQueue(admin_pb2.DeleteQueueRequest(name="short"), Context()))
        await asyncio.sleep(0)
        deleting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await deleting
        # The deletion goes on without its caller: a submit to the queue is refused at once.
        with pytest.raises(InvalidArgument):
            await c.submit("alice", [held("short")])
        await asyncio.gather(*(t for t in asyncio.all_tasks() if t is not asyncio.current_task()))
    asyncio.run(scenario())
    store.close()
    assert "short" not in stored_queues(tmp_path)


def test_an_update_racing_a_cancel_leaves_the_job_cancelled(tmp_path):
    """Before: the update's copy, made before the cancel, was put back after its commit:
    a cancelled job pending (and queued) again in memory, cancelled in the store."""
    c, store = make(tmp_path)

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, walltime_seconds=600)])
        job = c.get(j)
        results = await together(c.update(job, jobs_pb2.JobSpec(walltime_seconds=300), ["walltime_seconds"]),
                                 c.cancel(job, "alice"))
        return j, results
    j, (updated, cancelled) = asyncio.run(scenario())
    store.close()
    assert outcome(updated) == "ok" and cancelled == (jobs_pb2.JobActionResult.OK, "")
    assert c.get(j).state == jobs_pb2.CANCELLED and j not in c.table.queued
    c, store = make(tmp_path)
    assert (c.get(j).state, c.get(j).walltime_seconds) == (jobs_pb2.CANCELLED, 300)
    store.close()


def test_a_job_started_while_its_update_commits_stays_started(tmp_path):
    """Before: a pass that started the job during the update's commit was undone by it —
    the job pending again in memory with its run going on, so it would start twice."""
    c, store = make(tmp_path)
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT, walltime_seconds=600)])
        update = asyncio.ensure_future(c.update(c.get(j), jobs_pb2.JobSpec(walltime_seconds=300),
                                                ["walltime_seconds"]))
        await asyncio.sleep(0)                     # the update waits for its commit now
        started = await c.schedule_once()
        await update
        return j, started
    j, started = asyncio.run(scenario())
    store.close()
    assert started == 1
    job = c.get(j)
    assert (job.state, job.walltime_seconds) == (jobs_pb2.RUNNING, 300) and j not in c.table.queued
    c, store = make(tmp_path)
    assert (c.get(j).state, c.get(j).walltime_seconds) == (jobs_pb2.RUNNING, 300)
    store.close()


def test_two_share_settings_at_once_are_both_kept(tmp_path):
    """Before: each started from the shares before both; the second dropped the first."""
    c, store = make(tmp_path)

    async def scenario():
        return await together(c.set_share("physics", "alice", 10), c.set_share("physics", "bob", 5))
    assert asyncio.run(scenario()) == [None, None]
    store.close()
    assert c.usage.shares.users == {"physics": {"alice": 10, "bob": 5}}
    c, store = make(tmp_path)
    assert c.usage.shares.users == {"physics": {"alice": 10, "bob": 5}}
    store.close()


def test_a_requeue_during_an_archiving_finds_the_job_gone_and_stores_nothing(tmp_path):
    """Before: the archived job was still in memory until the archive's commit; a requeue
    then stored it pending again, after its deletion — a job ctld did not know of, which
    the next restart would have run."""
    c, store = make(tmp_path)
    jobs = server.JobsServicer(c, Gate(auth.Caller("alice", "user")))

    async def scenario():
        [j] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        job = c.get(j)
        c.table.dequeue(job)
        c.lifecycle.finish(job, jobs_pb2.COMPLETED, "None", 1000.0)
        archiving = asyncio.ensure_future(c.archive_once(now=40 * 86400.0))
        await asyncio.sleep(0)                       # it waits for its commit now
        requeued = await jobs.Requeue(jobs_pb2.JobActionRequest(job_ids=[j]), Context())
        return j, await archiving, requeued
    j, archived, requeued = asyncio.run(scenario())
    store.close()
    assert archived == 1 and [r.code for r in requeued.results] == [jobs_pb2.JobActionResult.UNKNOWN_JOB]
    c, store = make(tmp_path)
    assert c.get(j) is None
    store.close()


def test_a_submit_whose_commit_fails_counts_against_no_limit(tmp_path):
    """Its jobs were counted before the commit (so that submits racing it see them); a
    failed commit must give the count back, else the user's limit shrinks for good."""
    c, store = make(tmp_path, max_submit_jobs=2)
    real_apply = store._apply
    failing = [True]

    def refusing(changes):      # on the writer thread, as a commit the database refuses
        if failing and failing.pop():
            raise OSError("disk full")
        real_apply(changes)
    store._apply = refusing

    async def scenario():
        with pytest.raises(StoreError, match="disk full"):
            await c.submit("alice", [held(), held()])
        return await c.submit("alice", [held(), held()])
    ids = asyncio.run(scenario())
    store.close()
    assert len(ids) == 2 and c.table.backlog.of_user["alice"] == 2
