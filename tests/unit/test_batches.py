"""The node session's batches: what is queued together goes as one message, in order."""
import asyncio

from hpcq import batches
from hpcq.api import jobs_pb2, nodes_pb2

CM, NM = nodes_pb2.CtldMessage, nodes_pb2.NodeMessage


def launch(job_id):
    return CM(launch=nodes_pb2.Launch(job=jobs_pb2.Job(id=job_id)))


def started(job_id, attempt=1):
    return NM(job_started=nodes_pb2.JobOutcome(job_id=job_id, attempt=attempt, running=True))


def finished(job_id, attempt=1):
    return NM(job_finished=nodes_pb2.JobOutcome(job_id=job_id, attempt=attempt))


def sent(messages, merge):
    async def main():
        queue = asyncio.Queue()
        for m in [*messages, None]:
            queue.put_nowait(m)
        return [m async for m in batches.batched(queue, merge)]
    return asyncio.run(main())


def test_launches_queued_together_go_as_one_message_between_the_others():
    kill = CM(kill=nodes_pb2.KillJob(job_id=9))
    out = sent([launch(1), launch(2), kill, launch(3), launch(4), launch(5)], batches.merge_launches)
    assert [m.WhichOneof("kind") for m in out] == ["launches", "kill", "launches"]
    assert [[x.job.id for x in m.launches.launch] for m in (out[0], out[2])] == [[1, 2], [3, 4, 5]]


def test_a_peer_that_takes_no_batches_gets_every_message_alone():
    out = sent([launch(1), launch(2)], None)
    assert [m.launch.job.id for m in out] == [1, 2]


def test_outcomes_go_as_starts_then_ends_and_a_start_after_an_end_begins_a_new_batch():
    out = sent([started(1), started(2), finished(1), finished(2), started(1, attempt=2), finished(3)],
               batches.merge_outcomes)
    assert [m.WhichOneof("kind") for m in out] == ["outcomes", "outcomes"]
    first, second = out[0].outcomes, out[1].outcomes
    assert ([o.job_id for o in first.started], [o.job_id for o in first.finished]) == ([1, 2], [1, 2])
    assert ([(o.job_id, o.attempt) for o in second.started], [o.job_id for o in second.finished]) == ([(1, 2)], [3])


def test_other_messages_keep_their_place():
    beat = NM(heartbeat=nodes_pb2.Heartbeat())
    out = sent([started(1), beat, finished(1)], batches.merge_outcomes)
    assert [m.WhichOneof("kind") for m in out] == ["job_started", "heartbeat", "job_finished"]


def test_a_lone_message_is_sent_as_it_came():
    assert sent([finished(7)], batches.merge_outcomes) == [finished(7)]
