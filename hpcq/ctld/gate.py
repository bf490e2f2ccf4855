"""How a call reaches a servicer's handler: the load it adds weighed (Load), the caller
identified and authorized (Gate), domain errors mapped to statuses, and the call audited
(`rpc`)."""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from hpcq import metrics, pki
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import auth
from hpcq.ctld.audit import AuditLog
from hpcq.ctld.auth import Caller
from hpcq.ctld.boundary import Context, Encoded
from hpcq.ctld.errors import DomainError
from hpcq.ctld.readturns import NoRoom, ReadTurns
from hpcq.precedence import QUEUED_READS, STAND_ASIDE_SECONDS, Precedence

log = logging.getLogger("hpcq.ctld.server")   # its lines are the servicers'

BUSY_READS_PER_SECOND = 20  # past this, or with reads waiting, ctld is being polled hard (Load.busy)
BUSY_WINDOW_SECONDS = 0.2   # the loop's busy share is measured over the last one or two windows of this length
_DEFAULTS = CtldSection()   # [ctld] max_calls_in_flight, max_waiting_reads, reads_busy_share
RETRY_AFTER_KEY = "retry-after-ms"   # hpcq.transport.RETRY_AFTER_KEY: what the clients read


class Overloaded(Exception):
    def __init__(self, why: str, retry_after_ms: int) -> None:
        super().__init__(f"OVERLOADED: hpcq-ctld is saturated ({why}); retry-after-ms={retry_after_ms}")
        self.retry_after_ms = retry_after_ms


class Load:
    """How much ctld has on its hands, and the turns queued reads take.

    ctld answers every call on one event loop, and a List of a long queue holds it for
    milliseconds. Left alone, a storm of squeue polls puts hundreds of those ahead of a
    submit. So queued reads go one at a time, each after the loop has run whatever else
    was ready (a submit, a node's report), and none starts while another call is under
    way (hpcq.precedence, for a bounded time): a submit waiting for its commit would otherwise
    find a read in the loop at each step, and the store's thread would wait for the
    interpreter lock behind it. A submit waits behind one read at most. And a read starts
    only while ctld has used less than `reads_busy_share` of a CPU of late (all its threads:
    grpc's encryption and framing of the answers too): a storm of polls, which always has
    another read ready, would otherwise keep ctld, and the host, busy all the time, and a
    call that comes finds them free. Reads take their turns user by user in rotation
    (hpcq.ctld.readturns). Past `max_waiting_reads` waiting reads (and none given up by a
    user holding more of them), or `max_in_flight` calls in all, a call is refused with
    RESOURCE_EXHAUSTED and the time to come back (its retry hint), which the clients
    honour (hpcq.transport.Retrying): cheaper than letting them time out."""

    @classmethod
    def from_config(cls, ctld: CtldSection) -> Load:
        return cls(ctld.max_calls_in_flight, ctld.max_waiting_reads, ctld.reads_busy_share)

    def __init__(self, max_in_flight: int = _DEFAULTS.max_calls_in_flight,
                 max_waiting_reads: int = _DEFAULTS.max_waiting_reads,
                 reads_busy_share: float = _DEFAULTS.reads_busy_share) -> None:
        self.max_in_flight = max_in_flight
        self.max_waiting_reads = max_waiting_reads
        self.reads_busy_share = reads_busy_share
        self.in_flight = 0
        self.precedence = Precedence()
        self.shed = 0
        self._read_turns = ReadTurns(max_waiting_reads)
        self._busy_since = self._busy_last = (time.perf_counter(), time.process_time())   # (wall, CPU) marks
        self._read_seconds = 0.005   # a moving average of the time a queued read holds its turn (rests included)
        self._second = 0.0           # the second reads are being counted in, and its count
        self._reads_this_second = 0
        self._reads_last_second = 0

    @property
    def waiting_reads(self) -> int:
        return self._read_turns.waiting

    def waiting_reads_of(self, user: str) -> int:
        return self._read_turns.waiting_of(user)

    @property
    def busy(self) -> bool:
        """Reads are waiting their turn, or came at a storm's rate in the last second."""
        return self.waiting_reads > 0 or max(self._reads_this_second, self._reads_last_second) >= BUSY_READS_PER_SECOND

    def _count_read(self, now: float) -> None:
        if now - self._second >= 1.0:
            self._reads_last_second = self._reads_this_second if now - self._second < 2.0 else 0
            self._second, self._reads_this_second = now, 0
        self._reads_this_second += 1

    @asynccontextmanager
    async def call(self, method: str,
                   identify: Callable[[], Awaitable[Caller]] | None = None) -> AsyncIterator[Caller | None]:
        """Hold a place for one call (and its read turn); Overloaded when there is none.
        A queued read's caller is identified (`identify`) before it waits, to take its
        user's turn, and given to the block; other calls get None."""
        if self.in_flight >= self.max_in_flight:
            self.shed += 1
            raise Overloaded(f"{self.in_flight} calls in flight", self._hint(self.in_flight / 100))
        self.in_flight += 1
        try:
            if method not in QUEUED_READS:
                with self.precedence.other_call():
                    yield None
                return
            who = await identify() if identify is not None else None
            try:
                await self._read_turns.take(who.name if who is not None else "")
            except NoRoom as e:
                self.shed += 1
                raise Overloaded(str(e), self._hint(self.waiting_reads)) from None
            turn_taken = time.perf_counter()
            try:
                await self.precedence.stand_aside()   # what else was ready runs first
                rest = self._rest_before_read()
                if rest > 0:
                    await asyncio.sleep(rest)
                self._count_read(time.perf_counter())
                yield who
                self._read_seconds += (time.perf_counter() - turn_taken - self._read_seconds) / 16
            finally:
                self._read_turns.release()
        finally:
            self.in_flight -= 1

    def _rest_before_read(self) -> float:
        """Seconds to wait before a read for ctld to have used at most `reads_busy_share` of
        a CPU since the last window began (at most STAND_ASIDE_SECONDS; none if below)."""
        wall, cpu = time.perf_counter(), time.process_time()
        if wall - self._busy_since[0] >= BUSY_WINDOW_SECONDS:
            self._busy_last, self._busy_since = self._busy_since, (wall, cpu)
        busy = cpu - self._busy_last[1]
        return min(STAND_ASIDE_SECONDS, busy / self.reads_busy_share - (wall - self._busy_last[0]))

    def _hint(self, reads_ahead: float) -> int:
        """Milliseconds until the reads ahead are likely done: 50 ms to 5 s."""
        return int(min(5000, max(50, reads_ahead * self._read_seconds * 1000)))


class Gate:
    """Who is calling, and may they: certificate, revocation, agent assertion, the table.
    Every refusal is audited."""

    def __init__(self, policy: auth.AgentPolicy, revoked: pki.RevocationList, audit: AuditLog,
                 load: Load | None = None) -> None:
        self.policy = policy
        self.revoked = revoked
        self.audit = audit
        self.load = load or Load()

    def identify(self, context: Context, method: str) -> Caller:
        identity = pki.identity_from_auth_context(context.auth_context())
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        try:
            if identity is not None and self.revoked.is_revoked(identity.serial):
                raise auth.Refused("UNAUTHENTICATED",
                                   f"certificate {identity.serial:#x} of {identity.name!r} is revoked")
            who = auth.caller(identity, metadata, self.policy)
            auth.authorize(method, who)
        except auth.Refused as e:
            log.info("refused %s: %s", method, e)
            self.audit.record("refused", identity.name if identity else "", identity.role if identity else "",
                              method=method, status=e.status, reason=str(e))
            raise
        return who

    async def admit(self, context: Context, method: str) -> Caller:
        """identify(), aborting the call with the refusal's status."""
        try:
            return self.identify(context, method)
        except auth.Refused as e:
            await context.abort(grpc.StatusCode[e.status], str(e))


class Gated(Protocol):
    gate: Gate


Servicer = TypeVar("Servicer", bound=Gated)
Request = TypeVar("Request", bound=Message)
Reply = TypeVar("Reply", bound=Message | Encoded)   # Encoded: a reply serialized already
Handler = Callable[[Servicer, Caller, Request], Awaitable[Reply]]   # what a servicer here writes
Method = Callable[[Servicer, Request, Context], Awaitable[Reply]]   # what grpc calls


def rpc(method: str, audited: str = "", *, changes: bool = False) -> Callable[[Handler[Servicer, Request, Reply]],
                                                                          Method[Servicer, Request, Reply]]:
    """Wrap a unary handler: admit the caller, map domain errors to statuses, and audit
    the call as event `audited` (when given) with the job ids it named.

    A handler that `changes` state is carried to its end once begun, even when its caller
    goes away: grpc cancels a handler whose caller's deadline passed or who hung up, and
    one cancelled between its commit and its apply would leave the store ahead of ctld's
    memory (a stored job that is not queued, and its idempotency key not remembered, so
    the client's retry would store the job twice).

    Anything else a handler raises is a bug: INTERNAL, and one ERROR line naming the
    method and the exception (its traceback after it), which the gRPC fuzz test looks
    for; grpc itself would answer UNKNOWN and log under its own name."""
    def decorate(handler: Handler[Servicer, Request, Reply]) -> Method[Servicer, Request, Reply]:
        @functools.wraps(handler)
        async def wrapper(self: Servicer, request: Request, context: Context) -> Reply:
            if not changes:
                return await _call(self, request, context)
            return await carried_through(_call(self, request, context))

        async def _call(self: Servicer, request: Request, context: Context) -> Reply:
            try:
                async with self.gate.load.call(method, lambda: self.gate.admit(context, method)) as who:
                    return await _handle(self, request, context, who)
            except Overloaded as e:
                context.set_trailing_metadata(((RETRY_AFTER_KEY, str(e.retry_after_ms)),))
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
                raise  # abort raised already; for type checkers

        async def _handle(self: Servicer, request: Request, context: Context, admitted: Caller | None) -> Reply:
            who = admitted or await self.gate.admit(context, method)
            try:
                reply = await handler(self, who, request)
            except (auth.Refused, DomainError) as e:
                if audited:
                    self.gate.audit.record(audited, who.name, who.role, who.via_host, outcome="refused",
                                           reason=str(e))
                await context.abort(grpc.StatusCode[e.status], str(e))
            except grpc.aio.AbortError:
                raise   # the handler answered with a status of its own
            except Exception as e:  # the last resort, logged with its traceback
                log.error("%s: unexpected %s: %s", method, type(e).__name__, e, exc_info=True)
                if audited:
                    self.gate.audit.record(audited, who.name, who.role, who.via_host, outcome="failed",
                                           reason=type(e).__name__)
                await context.abort(grpc.StatusCode.INTERNAL, f"INTERNAL: {method.rsplit('/', 1)[1]} failed "
                                    f"({type(e).__name__}); the cause is in hpcq-ctld's log")
            if audited:
                self.gate.audit.record(audited, who.name, who.role, who.via_host, **_audit_fields(request, reply))
            return reply
        timed: Method[Servicer, Request, Reply] = metrics.timed_rpc(method, wrapper)
        return timed
    return decorate


Result = TypeVar("Result")


async def carried_through(work: Coroutine[Any, Any, Result],
                          when_abandoned: Callable[[asyncio.Future[Result]], None] | None = None) -> Result:
    """`work`'s result; if the awaiting task is cancelled (grpc cancels a handler whose
    caller went away), `work` still runs to its end, and `when_abandoned` then hears of it
    (by default its outcome is let go: the handler audited or logged it already, and
    nobody is left to answer)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(when_abandoned or _let_go)
        raise


def _let_go(work: asyncio.Future[Any]) -> None:
    if not work.cancelled():
        work.exception()


def _audit_fields(request: Message, reply: Message | Encoded) -> dict[str, Any]:
    """What an audit line says of a call: the jobs or objects it named and what came of it."""
    fields: dict[str, Any] = {}
    if isinstance(reply, jobs_pb2.SubmitResponse):
        fields["job_ids"] = list(reply.job_ids)
    elif isinstance(reply, jobs_pb2.JobActionResponse):
        fields["results"] = {f"{r.task.array_job_id}_{r.task.task}" if r.HasField("task") else r.job_id:
                             jobs_pb2.JobActionResult.Code.Name(r.code) for r in reply.results}
    for name in ("job_id", "name"):
        if name in request.DESCRIPTOR.fields_by_name:
            fields[name] = getattr(request, name)
    if isinstance(request, admin_pb2.QueueRequest):
        fields["queue"] = request.queue.name
    return fields
