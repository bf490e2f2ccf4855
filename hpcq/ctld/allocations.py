"""Interactive allocations (salloc, srun outside a job, qsub -I): ctld's side of Jobs.Allocate.

An allocation is a job with no batch script (JobSpec.allocation): it is queued, admitted and
scheduled as any other, and its node holds it (hpcq/noded/plan.py) for the client's steps. It
lives as long as its client: the client's release (with its command's exit status) ends it
COMPLETED or FAILED at once, as Slurm records an salloc's end; scancel, the walltime and a
node's loss end it as they end any job, and the client hears of it on its stream.

A stream controls the one job it made: there is no way to name another, so nobody can
release or follow someone else's allocation through it. The one exception is the same
client's call made again with the first one's idempotency key (the key is its user's:
hpcq.ctld.submitkeys) after its stream was cut off (ctld, the host agent or the network
between them went away): it goes on with that job, and a stream it replaces no longer ends
it. So a keyed stream that ends without a release does not end its allocation at once: the
allocation waits `[ctld] allocation_grace_seconds` for its client to come back, and is
cancelled only if no call made again with its key has taken it over by then (a client that
truly vanished, kill -9 or a lost host, costs that long). A stream without a key can never
be taken over: its end without a release cancels its allocation at once. A ctld that stops
ends no allocation; one that starts (a restart, a standby taking over) gives every
allocation the same wait, since every stream was cut off.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable

import grpc

from hpcq import states
from hpcq.api import jobs_pb2
from hpcq.ctld import auth, submitkeys
from hpcq.ctld.audit import AuditLog
from hpcq.ctld.auth import Caller
from hpcq.ctld.boundary import Context
from hpcq.ctld.controller import Controller
from hpcq.ctld.errors import DomainError, InvalidArgument
from hpcq.ctld.gate import carried_through

log = logging.getLogger("hpcq.ctld")
S = jobs_pb2.JobState


def check_submitted(specs: Iterable[jobs_pb2.JobSpec]) -> None:
    """Jobs.Submit takes batch jobs only: an allocation without a client to hold it would
    hold its resources until its walltime."""
    for i, spec in enumerate(specs):
        if spec.allocation:
            raise InvalidArgument("BAD_SPEC", f"specs[{i}].allocation: set only through Jobs.Allocate "
                                  "(salloc, srun outside a job, qsub -I)")


def allocation_spec(first: jobs_pb2.AllocateRequest | None) -> jobs_pb2.JobSpec:
    """The job an Allocate stream's first message asks for: its spec, an allocation, never
    an array, never run again (its client is gone by then), no script to run."""
    if first is None or not first.HasField("spec"):
        raise InvalidArgument("BAD_REQUEST", "spec: the first message of Allocate must carry the job's spec")
    spec = jobs_pb2.JobSpec()
    spec.CopyFrom(first.spec)
    if spec.HasField("array") and spec.array.tasks:
        raise InvalidArgument("BAD_SPEC", "array: an allocation is one job")
    spec.allocation = True
    spec.requeue = False
    spec.ClearField("retry")
    spec.ClearField("script")
    spec.ClearField("argv")
    return spec


def check_release(request: jobs_pb2.AllocateRequest) -> None:
    if not 0 <= request.exit_code <= 255:
        raise InvalidArgument("BAD_REQUEST", f"exit_code: {request.exit_code} is not an exit status (0-255)")


class Allocations:
    """The open Allocate streams' jobs, and how each ends."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller
        # Ends of allocations whose client went away, at once or after the grace: awaited
        # here, not by the stream that is gone.
        self._ending: set[asyncio.Task[None]] = set()
        # job id -> the stream that follows it now, or the wait for its client to come back
        # (a token each: whoever replaced it has taken the job over).
        self._holders: dict[int, object] = {}
        self.stopping = False   # ctld is stopping: streams cut off end no allocation

    @property
    def grace(self) -> float:
        """How long an allocation whose stream was cut off waits for its client."""
        return self.c.config.ctld.allocation_grace_seconds

    async def serve(self, who: Caller, requests: AsyncIterator[jobs_pb2.AllocateRequest], context: Context,
                    audit: AuditLog) -> AsyncIterator[jobs_pb2.Job]:
        """One Allocate stream, from its first message to its job's end; a refusal ends the
        call with its status, audited as Submit's are."""
        requests = aiter(requests)
        try:
            first = await anext(requests, None)
            job = await self.open(who, first)
        except (auth.Refused, DomainError) as e:
            audit.record("allocate", who.name, who.role, who.via_host, outcome="refused", reason=str(e))
            await context.abort(grpc.StatusCode[e.status], str(e))
        audit.record("allocate", who.name, who.role, who.via_host, job_ids=[job.id])
        try:
            async for event in self.follow(who, job, requests, keyed=first is not None and bool(first.idempotency_key)):
                yield event
        except DomainError as e:
            await context.abort(grpc.StatusCode[e.status], str(e))

    async def open(self, who: Caller, first: jobs_pb2.AllocateRequest | None) -> jobs_pb2.Job:
        """Admit and store the allocation's job (durable when it returns); with the key of
        an earlier call of the caller's, that call's job. A call cut off meanwhile (grpc
        cancels the handler) is carried through, as a change is (gate.rpc): its job is
        queued and its key remembered all the same, then let go as a stream cut off is."""
        keyed = first is not None and bool(first.idempotency_key)
        return await carried_through(self._open(who, first),
                                     lambda done: self._opened_unfollowed(who, done, keyed))

    def _opened_unfollowed(self, who: Caller, opening: asyncio.Future[jobs_pb2.Job], keyed: bool) -> None:
        """The open of a call cut off is done: its job ends, or waits for its client's call
        made again, unless that call follows it already."""
        if opening.cancelled():
            return
        error = opening.exception()
        if error is not None:
            if not isinstance(error, (auth.Refused, DomainError)):   # a bug: nobody is left to answer INTERNAL
                log.error("opening an allocation failed: %r", error, exc_info=error)
            return
        job = opening.result()
        if job.id not in self._holders and not states.is_finished(job.state) and not self.stopping:
            self._let_go(who, job, keyed)

    async def _open(self, who: Caller, first: jobs_pb2.AllocateRequest | None) -> jobs_pb2.Job:
        spec = allocation_spec(first)
        assert first is not None
        if not first.idempotency_key:
            [job_id] = await self.c.submit(who.name, [spec], staff=who.is_staff)
            return self.c.jobs[job_id]
        submitkeys.check_key(first.idempotency_key)
        [job_id], _ = await self.c.submit_keyed(who.name, [spec], first.idempotency_key, staff=who.is_staff)
        job = self.c.get(job_id)
        if job is None or not job.spec.allocation:
            raise InvalidArgument("BAD_REQUEST", f"idempotency_key: job {job_id}, which an earlier call of yours "
                                  "made with this key, is not an allocation that ctld still holds")
        return job

    async def end_unclaimed(self) -> None:
        """At ctld's start: every allocation's stream was cut off by the last controller's
        going away, so each waits for its client as a stream cut off now would."""
        held = [job.id for job in self.c.jobs.values()
                if job.spec.allocation and not states.is_finished(job.state) and job.id not in self._holders]
        if held:
            log.info("%d interactive allocations wait %g s for their clients to come back", len(held), self.grace)
            await self._end_unclaimed(self._wait_for_clients(held), self.grace)

    def _wait_for_clients(self, job_ids: Iterable[int]) -> dict[int, object]:
        """Mark each allocation as waiting for its client: the token of each wait, which a
        call made again with its key replaces (follow) by taking the job over. Marked at
        once, before anything awaits, so that such a call is never overwritten by it."""
        waits = {}
        for job_id in job_ids:
            waits[job_id] = self._holders[job_id] = object()
        return waits

    async def _end_unclaimed(self, waits: dict[int, object], grace: float) -> None:
        """After `grace` seconds: end each allocation still waiting with the token it had, as
        if its client had gone."""
        await asyncio.sleep(grace)
        for job_id, wait in waits.items():
            if self.stopping:
                return   # the next ctld gives them their wait again
            if self._holders.get(job_id) is not wait:
                continue   # taken over by its client's call made again (or waiting anew since)
            del self._holders[job_id]
            job = self.c.get(job_id)
            if job is not None and not states.is_finished(job.state):
                log.info("job %d of %s: its allocation's client did not come back", job.id, job.user)
                await self.end(Caller(name=job.user, role="user"), job, None)

    async def follow(self, who: Caller, job: jobs_pb2.Job, requests: AsyncIterator[jobs_pb2.AllocateRequest],
                     keyed: bool = False) -> AsyncIterator[jobs_pb2.Job]:
        """The job as it is now, then each change until it has ended; the client's release
        ends it. The stream's end without a release ends it at once, or, when the stream is
        `keyed` (its first message had an idempotency key), after the grace unless the
        client's call made again has taken it over. Call right after open(), before
        anything else awaits: the subscription then misses no change."""
        job_id = job.id
        sub = self.c.watchers.subscribe(lambda j: auth.View.FULL if j.id == job_id else auth.View.HIDDEN)
        client = asyncio.ensure_future(_release_of(requests))
        ended = False
        holder = self._holders[job_id] = object()
        try:
            last = _copy(job)
            yield last
            while not states.is_finished(last.state):   # the client hears of the end, whoever ended it
                change = asyncio.ensure_future(sub.next())
                await asyncio.wait({change} if ended else {change, client}, return_when=asyncio.FIRST_COMPLETED)
                if change.done():
                    event = change.result()
                    if event is None:
                        break   # overflowed: cannot happen with one job, but never loop on it
                    last = event
                    yield event
                else:
                    change.cancel()
                if client.done() and not ended:
                    try:
                        release = _result(client)
                    except DomainError:
                        keyed = False   # a bad release: the finally cancels at once, no call will come again
                        raise
                    if release is None and (keyed or self._holders.get(job_id) is not holder):
                        # Gone: its client came back on another stream, which holds the job
                        # now, or may still come back (the finally waits for it).
                        break
                    ended = True
                    # Shielded: a client that hangs up right after its release must not cut
                    # the end short between freeing the job's CPUs and telling its node.
                    await asyncio.shield(self._end_apart(who, job, release))
        finally:
            client.cancel()
            self.c.watchers.unsubscribe(sub)
            if self._holders.get(job_id) is holder:   # not taken over by the client's call made again
                del self._holders[job_id]
                if not states.is_finished(job.state) and not ended and not self.stopping:
                    self._let_go(who, job, keyed)

    def _let_go(self, who: Caller, job: jobs_pb2.Job, keyed: bool) -> None:
        """The allocation's stream ended without a release: without a key nothing can take
        it over, so it ends now; with one it waits for its client's call made again."""
        if not keyed:
            self._end_apart(who, job, None)
            return
        log.info("job %d of %s: its allocation's stream was cut off; it waits %g s for its client to come back",
                 job.id, job.user, self.grace)
        self._own(self._end_unclaimed(self._wait_for_clients([job.id]), self.grace))

    def _end_apart(self, who: Caller, job: jobs_pb2.Job,
                   release: jobs_pb2.AllocateRequest | None) -> asyncio.Task[None]:
        """end() as a task of its own, which outlives the stream that asked for it."""
        return self._own(self.end(who, job, release))

    def _own(self, ending: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(ending)
        self._ending.add(task)
        task.add_done_callback(self._ended)
        return task

    async def end(self, who: Caller, job: jobs_pb2.Job, release: jobs_pb2.AllocateRequest | None) -> None:
        """End the allocation: released while it runs, COMPLETED or FAILED with the client's
        exit status, and its node told to let go; otherwise (queued, or the client gone)
        cancelled as scancel would."""
        if states.is_finished(job.state):
            return
        if release is None or job.state not in states.ACTIVE:
            await self.c.cancel(job, who.name)
            return
        now = self.c.clock.wall()
        job.exit_code, job.signal = release.exit_code, 0
        self.c.lifecycle.finish(job, S.COMPLETED if release.exit_code == 0 else S.FAILED, "None", now)
        await self.c.store.write([self.c.table.row(job)])
        self.c.watchers.publish(job)
        # The node's end report comes for a finished job: ctld answers it with Forget.
        self.c.comm.kill(job, 0)
        log.info("job %d of %s: allocation released (exit %d)", job.id, job.user, release.exit_code)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._ending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ending an allocation failed: %r", task.exception(), exc_info=task.exception())


async def _release_of(requests: AsyncIterator[jobs_pb2.AllocateRequest]) -> jobs_pb2.AllocateRequest | None:
    """The client's release, or None when its stream ends without one. Nothing else may
    follow the first message: a client cannot make ctld read an endless stream."""
    async for request in requests:
        if not request.release:
            raise InvalidArgument("BAD_REQUEST", "release: only a release may follow the first message")
        check_release(request)
        return request
    return None


def _result(client: asyncio.Future[jobs_pb2.AllocateRequest | None]) -> jobs_pb2.AllocateRequest | None:
    """The release the client sent; None if its side of the stream broke (it is gone)."""
    error = client.exception()
    if isinstance(error, DomainError):
        raise error
    return None if error is not None else client.result()


def _copy(job: jobs_pb2.Job) -> jobs_pb2.Job:
    copy = jobs_pb2.Job()
    copy.CopyFrom(job)
    return copy
