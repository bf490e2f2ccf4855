"""The node's one stream to ctld: register, heartbeat, report; obey launch/signal/kill/forget.

Delivery to ctld is at-least-once: an ended job stays in the spool, and so in every
Register, until ctld answers Forget after storing its outcome.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time

import grpc

from hpcq import __version__, batches, failover, metrics
from hpcq.api import jobs_pb2, nodes_pb2, nodes_pb2_grpc
from hpcq.noded import hardware
from hpcq.noded.outputreader import OutputReader
from hpcq.noded.runner import JobRunner
from hpcq.noded.steptasks import StepTasks
from hpcq.noded.supervised import Supervised
from hpcq.transport import server_list

log = logging.getLogger("hpcq.noded")

MESSAGE_LIMIT = 64 * 1024 * 1024
# A job's start is told this long after it: a job that has ended by then is told once,
# by its end, which carries the start too (a message each way and a store write fewer).
START_REPORT_DELAY = 0.1
# A heartbeat carries the usage of at most this many running jobs (ctld keeps no more per node).
MAX_USAGE_PER_HEARTBEAT = 4096
RECONNECT_FIRST_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 2.0
# A node started with its controller (`hpcqctl up`, a reboot of both) finds it as soon as
# it listens: the pauses stay at the first for this long after the connection was lost,
# and only then double.
RECONNECT_QUICK_SECONDS = 1.5


def reconnect_pause(previous: float, failing_for: float) -> float:
    """The pause (before jitter) after a round of the controllers that all failed, the
    connection lost `failing_for` seconds ago."""
    if failing_for < RECONNECT_QUICK_SECONDS:
        return RECONNECT_FIRST_SECONDS
    return min(previous * 2, RECONNECT_MAX_SECONDS)


class EpochFence:
    """Orders come only from the newest controller: a controller that registers this node
    with an epoch below the highest one it has registered with (an active controller that
    has since been replaced) is left at once."""

    def __init__(self) -> None:
        self.highest = 0

    def admit(self, epoch: int) -> bool:
        if epoch < self.highest:
            return False
        self.highest = epoch
        return True


class StaleController(Exception):
    pass


class Unreachable(Exception):
    pass


class Session:
    def __init__(self, name: str, server: str, credentials: grpc.ChannelCredentials, facts: nodes_pb2.Hardware,
                 runner: JobRunner, *, server_name: str = "") -> None:
        self.name = name
        self.controllers = failover.Rotation(server_list(server))
        self.server = self.controllers.current
        self.epochs = EpochFence()
        self.credentials = credentials
        self.facts = facts
        self.runner = runner
        self.server_name = server_name
        self.heartbeat_seconds = 10.0
        self._outbox: asyncio.Queue[nodes_pb2.NodeMessage | None] | None = None
        self._ctld_takes_batches = False   # hpcq.batches
        self.connected = asyncio.Event()
        self.owners: dict[int, str] = {}  # job id -> user, for the log lines of this run of noded
        self._starts: dict[tuple[int, int], nodes_pb2.JobOutcome] = {}  # started, not yet told
        self._launches = Supervised(log)
        self.outputs = OutputReader(runner.spool_dir)
        self._reads = Supervised(log)
        self.steps = StepTasks(runner.node_name, runner.allow_root,
                               lambda ended: self.report(nodes_pb2.NodeMessage(step_tasks_ended=ended)),
                               runner.enforcement)

    def use_credentials(self, credentials: grpc.ChannelCredentials) -> None:
        """Certificate rotation: end the current stream cleanly (its request side closes,
        so ctld ends it too) and reconnect at once with the new credentials."""
        self.credentials = credentials
        if self._outbox is not None:
            self._outbox.put_nowait(None)

    def _merge(self, first: nodes_pb2.NodeMessage, then: nodes_pb2.NodeMessage) -> nodes_pb2.NodeMessage | None:
        return batches.merge_outcomes(first, then) if self._ctld_takes_batches else None

    def report(self, message: nodes_pb2.NodeMessage) -> None:
        """Send now if connected; otherwise the next Register carries it from the spool."""
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    def on_finished(self, outcome: nodes_pb2.JobOutcome) -> None:
        self._starts.pop((outcome.job_id, outcome.attempt), None)
        user = self.owners.pop(outcome.job_id, "?")
        log.info("job %d attempt %d of %s ended: %s exit %d signal %d", outcome.job_id, outcome.attempt, user,
                 jobs_pb2.JobState.Name(outcome.state), outcome.exit_code, outcome.signal,
                 extra={"job_id": outcome.job_id, "user": user})
        metrics.on_job_finished(outcome.state)
        self.report(nodes_pb2.NodeMessage(job_finished=outcome))

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        backoff, lost_at = RECONNECT_FIRST_SECONDS, loop.time()
        while True:
            try:
                await self._run_once()
            except grpc.aio.AioRpcError as e:
                log.warning("session to %s ended: %s %s", self.server, e.code().name, e.details())
                if e.code() == grpc.StatusCode.PERMISSION_DENIED:
                    backoff = 30.0
            except (OSError, StaleController, Unreachable) as e:
                log.warning("session to %s failed: %s", self.server, e)
            if self.connected.is_set():
                backoff, lost_at = RECONNECT_FIRST_SECONDS, loop.time()
            self.connected.clear()
            self._outbox = None
            # The next controller of the list at once; a pause after each round of them.
            if self.controllers.advance():
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = reconnect_pause(backoff, loop.time() - lost_at)
            self.server = self.controllers.current

    async def _run_once(self) -> None:
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", MESSAGE_LIMIT), ("grpc.max_receive_message_length", MESSAGE_LIMIT),
            *failover.KEEPALIVE_OPTIONS]
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        async with grpc.aio.secure_channel(self.server, self.credentials, options=options) as channel:
            if not await failover.connected(channel):
                raise Unreachable(f"not answering (refused, or not connected within {failover.CONNECT_TIMEOUT:g} s)")
            outbox: asyncio.Queue[nodes_pb2.NodeMessage | None] = asyncio.Queue()
            outbox.put_nowait(nodes_pb2.NodeMessage(register=nodes_pb2.Register(
                name=self.name, hardware=self.facts, jobs=self.runner.outcomes(), version=__version__,
                batches=True)))
            self._outbox = outbox
            self._ctld_takes_batches = False   # until its Registered says so
            call = nodes_pb2_grpc.NodeSessionStub(channel).Connect(batches.batched(outbox, self._merge))
            heartbeat = asyncio.create_task(self._heartbeat(outbox))
            try:
                async for message in call:
                    self._dispatch(message)
            finally:
                heartbeat.cancel()
                outbox.put_nowait(None)
                self._outbox = None

    async def _heartbeat(self, outbox: asyncio.Queue[nodes_pb2.NodeMessage | None]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            heartbeat = nodes_pb2.Heartbeat(load=hardware.load(), usage=self.runner.usage(MAX_USAGE_PER_HEARTBEAT))
            outbox.put_nowait(nodes_pb2.NodeMessage(heartbeat=heartbeat))
            metrics.NODED_HEARTBEATS.inc()

    def _dispatch(self, message: nodes_pb2.CtldMessage) -> None:
        kind = message.WhichOneof("kind")
        if kind == "registered":
            epoch = message.registered.controller_epoch
            if not self.epochs.admit(epoch):
                raise StaleController(f"its controller epoch {epoch} is older than epoch {self.epochs.highest}, which "
                                      "this node has registered with: not taking its orders")
            self.heartbeat_seconds = message.registered.heartbeat_seconds or self.heartbeat_seconds
            self._ctld_takes_batches = message.registered.batches
            self.connected.set()
            metrics.NODED_SESSIONS.inc()
            log.info("registered with %s as %s (controller epoch %d)", self.server, self.name, epoch)
        elif not self.connected.is_set():
            log.warning("%s sent %s before registering this node; ignored", self.server, kind)
        elif kind in ("launch", "launches"):
            for launch in [message.launch] if kind == "launch" else message.launches.launch:
                for forget in launch.forget:
                    self.runner.forget(forget.job_id, forget.attempt)
                self._launches.start(self._launch(launch), f"launch of job {launch.job.id}")
        elif kind == "signal":
            self.runner.signal(message.signal.job_id, message.signal.attempt, message.signal.signal)
        elif kind == "kill":
            self.runner.kill(message.kill.job_id, message.kill.attempt, message.kill.grace_seconds)
        elif kind == "forget":
            self.runner.forget(message.forget.job_id, message.forget.attempt)
        elif kind == "read_output":
            self._reads.start(self._read_output(message.read_output), "output read")
        elif kind == "launch_step":
            self.steps.launch(message.launch_step)
        elif kind == "signal_step":
            s = message.signal_step
            self.steps.signal(s.job_id, s.attempt, s.step_id, s.signal)
        elif kind == "suspend":
            self.runner.suspend(message.suspend.job_id, message.suspend.attempt, message.suspend.resume)

    async def _launch(self, launch: nodes_pb2.Launch) -> None:
        job, started = launch.job, time.perf_counter()
        self.owners[job.id] = job.user
        outcome = await self.runner.launch(job, launch.cluster, launch.kill_grace_seconds)
        metrics.on_launch(time.perf_counter() - started, outcome.running)
        # A start is logged at DEBUG: at hundreds of jobs a second, the end's INFO line is enough.
        log.log(logging.DEBUG if outcome.running else logging.INFO, "job %d attempt %d of %s %s", job.id,
                job.attempt, job.user, "started" if outcome.running else f"not started: {outcome.reason or 'ended'}",
                extra={"job_id": job.id, "user": job.user})
        if not outcome.running:
            self.owners.pop(job.id, None)
        if outcome.running:
            key = (job.id, job.attempt)
            self._starts[key] = outcome
            asyncio.get_running_loop().call_later(START_REPORT_DELAY, self._report_start, key)
        elif outcome.end_time:
            self.report(nodes_pb2.NodeMessage(job_finished=outcome))

    async def _read_output(self, request: nodes_pb2.ReadOutput) -> None:
        self.report(nodes_pb2.NodeMessage(output=await self.outputs.read(request)))

    def _report_start(self, key: tuple[int, int]) -> None:
        outcome = self._starts.pop(key, None)
        if outcome is not None:
            self.report(nodes_pb2.NodeMessage(job_started=outcome))


