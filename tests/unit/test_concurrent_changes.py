"""Changes that meet while one of them waits for its commit, on a real controller and store:
two admins at the same queue, a submit racing its queue's deletion, and a caller that goes
away (a deadline, a ^C: grpc cancels the handler) between a change's commit and its apply.
Every case ends with memory and store agreeing, as a restart would load them."""
from __future__ import annotations

import asyncio

import pytest

from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import auth, server
from hpcq.ctld.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
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
