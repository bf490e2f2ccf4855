"""How a call reaches a servicer's handler: the caller identified and authorized (Gate),
domain errors mapped to statuses, and the call audited (`rpc`)."""
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from hpcq import metrics, pki
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.ctld import auth
from hpcq.ctld.audit import AuditLog
from hpcq.ctld.auth import Caller
from hpcq.ctld.boundary import Context
from hpcq.ctld.errors import DomainError

log = logging.getLogger("hpcq.ctld.server")   # its lines are the servicers'


class Gate:
    """Who is calling, and may they: certificate, revocation, agent assertion, the table.
    Every refusal is audited."""

    def __init__(self, policy: auth.AgentPolicy, revoked: pki.RevocationList, audit: AuditLog) -> None:
        self.policy = policy
        self.revoked = revoked
        self.audit = audit

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
Reply = TypeVar("Reply", bound=Message)
Handler = Callable[[Servicer, Caller, Request], Awaitable[Reply]]   # what a servicer here writes
Method = Callable[[Servicer, Request, Context], Awaitable[Reply]]   # what grpc calls


def rpc(method: str, audited: str = "") -> Callable[[Handler[Servicer, Request, Reply]],
                                                    Method[Servicer, Request, Reply]]:
    """Wrap a unary handler: admit the caller, map domain errors to statuses, and audit
    the call as event `audited` (when given) with the job ids it named.

    Anything else a handler raises is a bug: INTERNAL, and one ERROR line naming the
    method and the exception (its traceback after it), which the gRPC fuzz test looks
    for; grpc itself would answer UNKNOWN and log under its own name."""
    def decorate(handler: Handler[Servicer, Request, Reply]) -> Method[Servicer, Request, Reply]:
        @functools.wraps(handler)
        async def wrapper(self: Servicer, request: Request, context: Context) -> Reply:
            who = await self.gate.admit(context, method)
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


def _audit_fields(request: Message, reply: Message) -> dict[str, Any]:
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
