"""Between full passes, events get quick passes over the best-ranked pending jobs; a
stored outcome's Forget rides along with the node's next Launch."""
import asyncio

from hpcq.api import jobs_pb2, nodes_pb2
from hpcq.ctld import nodes_state
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import make

S = jobs_pb2.JobState
SCRIPT = "#!/bin/sh\ntrue\n"


def sent(link: NodeLink) -> list[nodes_pb2.CtldMessage]:
    messages = []
    while not link.outbox.empty():
        messages.append(link.outbox.get_nowait())
    return messages


def test_a_quick_pass_sees_the_best_ranked_jobs_and_those_queued_since(tmp_path):
    c, store = make(tmp_path)

    async def scenario():
        c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=1, memory_mb=1000)), NodeLink())
        first = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)] * 5)
        assert await c.schedule_once() == 1                    # a full pass ranks all five
        [late] = await c.submit("alice", [jobs_pb2.JobSpec(script=SCRIPT)])
        seen = [r.id for r in c.snapshot(0.0, depth=2).pending]
        return first, late, seen
    first, late, seen = asyncio.run(scenario())
    assert seen == [first[1], first[2], late]                  # the first one runs already
    store.close()


def test_a_forget_rides_with_the_next_launch_or_goes_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(nodes_state, "FORGET_DELAY", 0.01)

    async def scenario():
        link = NodeLink()
        link.forget(7, 1)
        link.send(nodes_pb2.CtldMessage(launch=nodes_pb2.Launch(job=jobs_pb2.Job(id=8, attempt=1))))
        [launch] = sent(link)
        link.forget(8, 1)
        await asyncio.sleep(0.05)
        [alone] = sent(link)
        return launch, alone
    launch, alone = asyncio.run(scenario())
    assert [(f.job_id, f.attempt) for f in launch.launch.forget] == [(7, 1)]
    assert (alone.forget.job_id, alone.forget.attempt) == (8, 1)
