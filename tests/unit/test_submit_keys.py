"""Idempotent submit: a repeated key answers the first submit's ids, on a real store."""
import asyncio

import pytest

from hpcq.api import jobs_pb2
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.store.writer import Store
from hpcq.ctld.submitkeys import check_key
from tests.unit.controllers import make

S = jobs_pb2.JobState
SCRIPT = "#!/bin/sh\ntrue\n"


def run(coro):
    return asyncio.run(coro)


def spec(**fields):
    return jobs_pb2.JobSpec(script=SCRIPT, **fields)


def test_a_repeated_key_answers_the_first_ids_and_stores_nothing_even_after_a_restart(tmp_path):
    c, store = make(tmp_path)
    first = run(c.submit_keyed("alice", [spec(), spec()], "k-1"))
    assert first == ([1, 2], False)
    assert run(c.submit_keyed("alice", [spec()], "k-1")) == ([1, 2], True)
    assert sorted(c.jobs) == [1, 2]
    store.close()
    c2, store2 = make(tmp_path)   # a restarted ctld knows the key from the store
    assert run(c2.submit_keyed("alice", [spec(), spec()], "k-1")) == ([1, 2], True)
    assert sorted(c2.jobs) == [1, 2] and c2.next_job_id == 3
    store2.close()


def test_a_key_is_its_callers_own(tmp_path):
    c, store = make(tmp_path)
    assert run(c.submit_keyed("alice", [spec()], "shared")) == ([1], False)
    assert run(c.submit_keyed("bob", [spec()], "shared")) == ([2], False)
    assert c.jobs[2].user == "bob"
    assert run(c.submit_keyed("bob", [spec()], "shared")) == ([2], True)
    store.close()


def test_an_array_submit_is_one_key(tmp_path):
    c, store = make(tmp_path)
    array = spec(array=jobs_pb2.ArraySpec(tasks="0-3"))
    [array_id], repeated = run(c.submit_keyed("alice", [array], "arr"))
    assert not repeated and c.jobs[array_id].array_tasks_pending
    assert run(c.submit_keyed("alice", [array], "arr")) == ([array_id], True)
    assert len(c.jobs) == 1
    store.close()


def test_concurrent_submits_of_one_key_store_one_set_of_jobs(tmp_path):
    c, store = make(tmp_path)

    async def both():
        return await asyncio.gather(c.submit_keyed("alice", [spec()], "k"), c.submit_keyed("alice", [spec()], "k"))
    answers = run(both())
    assert sorted(answers) == [([1], False), ([1], True)]
    assert sorted(c.jobs) == [1]
    store.close()


def test_a_refused_submit_leaves_its_key_free(tmp_path):
    c, store = make(tmp_path)
    with pytest.raises(InvalidArgument, match="UNKNOWN_QUEUE"):
        run(c.submit_keyed("alice", [spec(queue="nope")], "k"))
    assert run(c.submit_keyed("alice", [spec()], "k")) == ([1], False)
    store.close()


def test_the_key_goes_when_its_last_job_is_archived(tmp_path):
    c, store = make(tmp_path)
    ids, _ = run(c.submit_keyed("alice", [spec(), spec()], "old"))

    async def finish_and_archive(job_ids, ended, now):
        for job_id in job_ids:
            job = c.jobs[job_id]
            c.table.dequeue(job)
            c.lifecycle.finish(job, S.COMPLETED, "None", ended)
        return await c.archive_once(now=now)
    assert run(finish_and_archive(ids[:1], 1000.0, 40 * 86400.0)) == 1
    assert c.submit_keys.answered("alice", "old") == ids   # one job of the submit is still kept
    assert run(finish_and_archive(ids[1:], 2000.0, 40 * 86400.0)) == 1
    assert c.submit_keys.answered("alice", "old") is None
    store.close()
    with Store(f"sqlite:///{tmp_path / 'hpcq.db'}").engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM submit_keys").fetchall() == []


@pytest.mark.parametrize("key", ["x" * 129, "has space", "tab\there", "nul\0", "é"])
def test_a_bad_key_is_refused(key):
    with pytest.raises(InvalidArgument, match="idempotency_key"):
        check_key(key)


def test_a_uuid_and_the_longest_key_are_good():
    check_key("0b3c2f9e-9a3d-4c61-8f0e-2d7c1a5b6e4f")
    check_key("~" * 128)
