"""The node session's messages in batches: what is queued at one moment goes as one message.

At hundreds of jobs a second, a message per launch (ctld to node) and per start and end
(node to ctld) costs each end more than the little each carries. So a stream's sender
takes every message queued by the time it sends, and merges runs of launches into one
Launches, and runs of starts then ends into one JobOutcomes. Nothing waits to be merged:
an idle cluster sends each message alone, at once; a busy one sends what piled up while
the last message was on its way. Merging keeps every message's place relative to the
others, and a job's start before its end. Each end merges only for a peer that said, when
registering, that it takes batches (Register.batches, Registered.batches): a node or
controller of an older version gets every message as it was.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from hpcq.api import nodes_pb2

Message = TypeVar("Message", nodes_pb2.CtldMessage, nodes_pb2.NodeMessage)
Merge = Callable[[Message, Message], "Message | None"]


async def batched(queue: asyncio.Queue[Message | None], merge: Merge[Message] | None) -> AsyncIterator[Message]:
    """The messages of `queue` until a None, those queued together merged (`merge(a, b)`:
    a and b as one message, None when they do not merge)."""
    while True:
        message = await queue.get()
        if message is None:
            return
        while merge is not None and not queue.empty():
            following = queue.get_nowait()
            if following is None:
                yield message
                return
            merged = merge(message, following)
            if merged is None:
                yield message
                message = following
            else:
                message = merged
        yield message


def merge_launches(first: nodes_pb2.CtldMessage, then: nodes_pb2.CtldMessage) -> nodes_pb2.CtldMessage | None:
    """Two launches (or a batch of them and a launch) as one Launches."""
    if then.WhichOneof("kind") != "launch":
        return None
    kind = first.WhichOneof("kind")
    if kind == "launch":
        first = nodes_pb2.CtldMessage(launches=nodes_pb2.Launches(launch=[first.launch]))
    elif kind != "launches":
        return None
    first.launches.launch.append(then.launch)
    return first


def merge_outcomes(first: nodes_pb2.NodeMessage, then: nodes_pb2.NodeMessage) -> nodes_pb2.NodeMessage | None:
    """Starts and ends as one JobOutcomes: starts, then ends (a start after an end starts
    a new batch, so that no attempt's start is taken after a later end)."""
    kind, next_kind = first.WhichOneof("kind"), then.WhichOneof("kind")
    if next_kind not in ("job_started", "job_finished"):
        return None
    if kind == "job_started":
        first = nodes_pb2.NodeMessage(outcomes=nodes_pb2.JobOutcomes(started=[first.job_started]))
    elif kind == "job_finished":
        first = nodes_pb2.NodeMessage(outcomes=nodes_pb2.JobOutcomes(finished=[first.job_finished]))
    elif kind != "outcomes":
        return None
    if next_kind == "job_started":
        if first.outcomes.finished:
            return None
        first.outcomes.started.append(then.job_started)
    else:
        first.outcomes.finished.append(then.job_finished)
    return first
