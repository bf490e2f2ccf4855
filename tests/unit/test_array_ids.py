"""An array task's id, given when a pass starts the task, is never given again: not even
after the array's records are archived and ctld restarts before anything else is submitted."""
from __future__ import annotations

import asyncio

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import RecordingComm, make


def test_the_ids_of_an_array_started_whole_in_one_pass_are_not_given_again_after_its_archiving(tmp_path):
    """Before: a pass that started every task of an array (the last taking over the
    array's own record) did not store the next job id; with the array archived, a
    restart gave its tasks' ids again (whose archived rows the new jobs' would replace)."""
    c, store = make(tmp_path, comm=RecordingComm())
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())

    async def scenario():
        [a] = await c.submit("alice", [jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n",
                                                        array=jobs_pb2.ArraySpec(tasks="1-2"))])
        assert await c.schedule_once() == 2
        for job in list(c.jobs.values()):
            c.on_job_finished("n1", nodes_pb2.JobOutcome(job_id=job.id, attempt=job.attempt,
                                                         state=jobs_pb2.COMPLETED, end_time=c.clock.wall()))
        return a, await c.archive_once(c.clock.wall() + 40 * 86400)
    a, archived = asyncio.run(scenario())
    given = c.next_job_id
    store.close()
    assert archived == 2 and given == a + 2
    restarted, store = make(tmp_path)
    assert restarted.next_job_id == given
    store.close()
