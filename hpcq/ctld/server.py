"""gRPC servicers: thin. Authorize, validate, call the Controller, map errors."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import grpc

from hpcq import __version__, batches, slurmconf
from hpcq.api import admin_pb2, admin_pb2_grpc, jobs_pb2, jobs_pb2_grpc, nodes_pb2, nodes_pb2_grpc
from hpcq.ctld import admin, auth, listing, output, submitkeys, watch
from hpcq.ctld import jobs as jobrules
from hpcq.ctld import steps as steprules
from hpcq.ctld.allocations import Allocations, check_submitted
from hpcq.ctld.auth import Caller
from hpcq.ctld.boundary import Context, Encoded
from hpcq.ctld.controller import Controller
from hpcq.ctld.errors import DomainError, InvalidArgument, NotFound
from hpcq.ctld.gate import Gate, rpc
from hpcq.ctld.jobactions import ActionResult, Target
from hpcq.ctld.leadership import Role, Sole
from hpcq.ctld.listcache import Listings
from hpcq.ctld.nodes_state import NodeLink
from hpcq.ctld.settings import slurm_settings

log = logging.getLogger("hpcq.ctld.server")
R = jobs_pb2.JobActionResult


class JobsServicer(jobs_pb2_grpc.JobsServicer):
    def __init__(self, controller: Controller, gate: Gate) -> None:
        self.c = controller
        self.gate = gate
        self.reads = auth.ReadRules.from_config(controller.config.ctld.private_data)
        self.allocations = Allocations(controller)
        self.listings = Listings(controller.watchers, self.reads, self._list, controller.get, controller.cluster,
                                 between=self.gate.load.precedence.stand_aside)

    @rpc("/hpcq.v1.Jobs/Submit", audited="submit", changes=True)
    async def Submit(self, who: Caller, request: jobs_pb2.SubmitRequest) -> jobs_pb2.SubmitResponse:
        jobrules.check_count("specs", len(request.specs), jobrules.MAX_SPECS_PER_SUBMIT)
        check_submitted(request.specs)
        if request.idempotency_key and not request.test_only:
            submitkeys.check_key(request.idempotency_key)
            ids, repeated = await self.c.submit_keyed(who.name, request.specs, request.idempotency_key,
                                                      staff=who.is_staff)
            return jobs_pb2.SubmitResponse(job_ids=ids, cluster=self.c.cluster, repeated_submit=repeated)
        ids = await self.c.submit(who.name, request.specs, staff=who.is_staff, test_only=request.test_only)
        return jobs_pb2.SubmitResponse(job_ids=ids, cluster=self.c.cluster)

    @rpc("/hpcq.v1.Jobs/Get")
    async def Get(self, who: Caller, request: jobs_pb2.GetJobsRequest) -> jobs_pb2.GetJobsResponse:
        jobrules.check_count("job_ids", len(request.job_ids), jobrules.MAX_JOB_IDS)
        reply = jobs_pb2.GetJobsResponse(cluster=self.c.cluster)

        def view_of(job_id: int) -> jobs_pb2.Job | None:
            job = self.c.get(job_id)
            return None if job is None else self.reads.view_for(who, job)
        listing.answer_get(reply, request.job_ids, view_of)
        return reply

    @rpc("/hpcq.v1.Jobs/List")
    async def List(self, who: Caller, request: jobs_pb2.ListJobsRequest) -> Encoded:
        # A storm of polls shares recent answers.
        return await self.listings.answer(who, request, busy=self.gate.load.busy)

    async def _list(self, who: Caller, request: jobs_pb2.ListJobsRequest,
                    encode: Callable[[jobs_pb2.Job], bytes]) -> listing.Page:
        return await listing.page_for(list(self.c.jobs.values()), request, self.reads.visible(who), encode,
                                      between=self.gate.load.precedence.stand_aside)

    async def Watch(self, request: jobs_pb2.WatchRequest, context: Context) -> AsyncIterator[jobs_pb2.JobEvent]:
        who = await self.gate.admit(context, "/hpcq.v1.Jobs/Watch")
        ids, reads = set(request.job_ids), self.reads
        sub = self.c.watchers.subscribe(
            lambda job: reads.view(who, job) if not ids or job.id in ids else auth.View.HIDDEN)
        try:
            if request.send_initial:
                # Subscribed first: a change made while these go out comes after them too.
                first = ([record for record in map(self.c.get, sorted(ids)) if record is not None] if ids else
                         await watch.first_records(list(self.c.jobs.values()), reads.visible(who),
                                                   request.finished_after,
                                                   between=self.gate.load.precedence.stand_aside))
                for record in first:
                    view = reads.view_for(who, record)   # as it is now: it may have changed since
                    if view is not None:
                        yield jobs_pb2.JobEvent(job=view)
            while (job := await sub.next()) is not None:
                yield jobs_pb2.JobEvent(job=job)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                "WATCH_OVERFLOW: this watcher fell too far behind; watch again")
        finally:
            self.c.watchers.unsubscribe(sub)

    async def _each(self, who: Caller, request: jobs_pb2.JobActionRequest,
                    act: Callable[[Target], Awaitable[ActionResult]]) -> jobs_pb2.JobActionResponse:
        """`act` on every job and array task the request names, one result each. With an
        idempotency key, a record the key's first attempt acted on answers OK again."""
        ids, tasks, key = request.job_ids, request.tasks, request.idempotency_key
        jobrules.check_count("job_ids", len(ids) + len(tasks), jobrules.MAX_JOB_IDS)
        if not key:
            return await self._act_on_each(who, request, act)
        submitkeys.check_key(key)
        async with self.c.submit_keys.acting(who.name, key):
            return await self._act_on_each(who, request, act)

    async def _act_on_each(self, who: Caller, request: jobs_pb2.JobActionRequest,
                           act: Callable[[Target], Awaitable[ActionResult]]) -> jobs_pb2.JobActionResponse:
        ids, tasks, key = request.job_ids, request.tasks, request.idempotency_key
        reply = jobs_pb2.JobActionResponse()
        acted: list[jobs_pb2.Job] = []
        for n, job_id in enumerate(ids):
            if n and not n % 1000:
                await asyncio.sleep(0)  # a long list shares the event loop with every other caller
            job = self.c.get(job_id)
            code, message = await self._act_if_allowed(who, job, job, act, key)
            if code == R.OK and job is not None:
                acted.append(job)
            reply.results.add(job_id=job_id, code=code, message=message)
        for n, ref in enumerate(tasks):
            if n and not n % 1000:
                await asyncio.sleep(0)
            target = self.c.array_task(ref.array_job_id, ref.task)
            job = None if target is None else target.job
            code, message = await self._act_if_allowed(who, job, target, act, key)
            # The task's record, if it has one now (the action may have split it out).
            after = self.c.array_task(ref.array_job_id, ref.task) if code != R.UNKNOWN_JOB else None
            if code == R.OK and after is not None:
                acted.append(after.job)
            reply.results.add(job_id=after.job.id if after is not None and not after.pending else 0, task=ref,
                              code=code, message=message)
        if key and acted:
            await self.c.remember_action_key(acted, key)
        return reply

    async def _act_if_allowed(self, who: Caller, job: jobs_pb2.Job | None, target: Target | None,
                              act: Callable[[Target], Awaitable[ActionResult]], key: str) -> ActionResult:
        if job is None or target is None or not self.reads.may_see(who, job):
            return R.UNKNOWN_JOB, "Invalid job id specified"
        if not who.may_act_on(job.user):
            return R.NOT_PERMITTED, f"job {job.id} belongs to {job.user}"
        if key and key in job.action_keys:
            return R.OK, ""          # a retry: its first attempt did this
        return await act(target)

    @rpc("/hpcq.v1.Jobs/Cancel", audited="cancel", changes=True)
    async def Cancel(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        return await self._each(who, request, lambda job: self.c.cancel(job, who.name))

    @rpc("/hpcq.v1.Jobs/Signal", audited="signal", changes=True)
    async def Signal(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        if not 0 < request.signal < 65:
            raise InvalidArgument("BAD_REQUEST", f"signal: {request.signal} is not a signal number")
        return await self._each(who, request, lambda job: self.c.signal(job, request.signal))

    @rpc("/hpcq.v1.Jobs/Hold", audited="hold", changes=True)
    async def Hold(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        admin = request.admin and who.is_staff
        return await self._each(who, request, lambda job: self.c.hold(job, admin))

    @rpc("/hpcq.v1.Jobs/Release", audited="release", changes=True)
    async def Release(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        return await self._each(who, request, lambda job: self.c.release(job, staff=who.is_staff))

    @rpc("/hpcq.v1.Jobs/Requeue", audited="requeue", changes=True)
    async def Requeue(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        return await self._each(who, request, lambda job: self.c.requeue(job, request.hold))

    @rpc("/hpcq.v1.Jobs/Suspend", audited="suspend", changes=True)
    async def Suspend(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        return await self._each(who, request, self.c.suspend)

    @rpc("/hpcq.v1.Jobs/Resume", audited="resume", changes=True)
    async def Resume(self, who: Caller, request: jobs_pb2.JobActionRequest) -> jobs_pb2.JobActionResponse:
        return await self._each(who, request, self.c.resume)

    @rpc("/hpcq.v1.Jobs/Update", audited="update", changes=True)
    async def Update(self, who: Caller, request: jobs_pb2.UpdateJobRequest) -> jobs_pb2.UpdateJobResponse:
        target: Target | None
        if request.HasField("task"):
            target = self.c.array_task(request.task.array_job_id, request.task.task)
            job, name = (None if target is None else target.job), f"{request.task.array_job_id}_{request.task.task}"
        else:
            target = job = self.c.get(request.job_id)
            name = str(request.job_id)
        if target is None or job is None or not self.reads.may_see(who, job):
            raise NotFound("UNKNOWN_JOB", f"job {name} does not exist")
        if not who.may_act_on(job.user):
            raise auth.Refused("PERMISSION_DENIED", f"job {job.id} belongs to {job.user}")
        jobrules.check_update_fields(request.fields)
        updated = await self.c.update(target, request.spec, request.fields, staff=who.is_staff)
        return jobs_pb2.UpdateJobResponse(job=self.reads.view_for(who, updated))

    @rpc("/hpcq.v1.Jobs/Explain")
    async def Explain(self, who: Caller, request: jobs_pb2.ExplainRequest) -> jobs_pb2.ExplainResponse:
        job = self.c.get(request.job_id)
        if job is None or not self.reads.may_see(who, job):
            raise NotFound("UNKNOWN_JOB", f"job {request.job_id} does not exist")
        state = jobs_pb2.JobState.Name(job.state)
        reply = jobs_pb2.ExplainResponse(job_id=job.id, state=state, reason=job.reason, priority=job.priority)
        why = self.c.explain(job)
        if why is None:
            reply.lines.append(f"job {job.id}: {state}, reason {job.reason} (only pending jobs are planned)")
            return reply
        p = why.priority
        reply.reason, reply.priority, reply.nice, reply.would_start = why.reason, p.priority, p.nice, why.would_start
        reply.factors.update({k: getattr(p, k) for k in ("age", "fairshare", "job_size", "queue")})
        reply.contributions.update(p.contributions())
        reply.planned_start_time = why.planned_start or 0.0
        reply.planned_nodes.extend(why.planned_nodes)
        reply.detail = why.detail
        reply.lines.extend(why.lines())
        return reply

    def _own_job(self, who: Caller, job_id: int) -> jobs_pb2.Job:
        """A job the caller may act on (its owner, or staff), else the refusal."""
        job = self.c.get(job_id)
        if job is None or not self.reads.may_see(who, job):
            raise NotFound("UNKNOWN_JOB", f"job {job_id} does not exist")
        if not who.may_act_on(job.user):
            raise auth.Refused("PERMISSION_DENIED", f"job {job.id} belongs to {job.user}")
        return job

    @rpc("/hpcq.v1.Jobs/CreateStep", audited="step_create", changes=True)
    async def CreateStep(self, who: Caller, request: jobs_pb2.CreateStepRequest) -> jobs_pb2.CreateStepResponse:
        job = self._own_job(who, request.job_id)
        step = await self.c.create_step(job, request)
        return jobs_pb2.CreateStepResponse(step=step, job=self.reads.view_for(who, job))

    async def Output(self, request: jobs_pb2.OutputRequest, context: Context) -> AsyncIterator[jobs_pb2.OutputChunk]:
        who = await self.gate.admit(context, "/hpcq.v1.Jobs/Output")
        try:
            job = self._own_job(who, request.job_id)   # as Slurm's sattach: the owner's, or staff's
            output.check_readable(job, request.step_id if request.HasField("step_id") else None, request.after_end)
            with self.c.outputs.stream_of(who.name):
                async for chunk in output.chunks(self.c.outputs, job, request, self.c.get):
                    yield chunk
        except (auth.Refused, DomainError) as e:
            await context.abort(grpc.StatusCode[e.status], str(e))

    @rpc("/hpcq.v1.Jobs/Usage")
    async def Usage(self, who: Caller, request: jobs_pb2.UsageRequest) -> jobs_pb2.UsageResponse:
        job = self._own_job(who, request.job_id)   # as Slurm: sstat shows users their own jobs only
        return jobs_pb2.UsageResponse(running=job.state == jobs_pb2.RUNNING, usage=self.c.live_usage(job),
                                      cluster=self.c.cluster)

    async def Allocate(self, request_iterator: AsyncIterator[jobs_pb2.AllocateRequest],
                       context: Context) -> AsyncIterator[jobs_pb2.AllocateEvent]:
        who = await self.gate.admit(context, "/hpcq.v1.Jobs/Allocate")
        async for job in self.allocations.serve(who, request_iterator, context, self.gate.audit):
            yield jobs_pb2.AllocateEvent(job=job)

    @rpc("/hpcq.v1.Jobs/FinishStep", changes=True)
    async def FinishStep(self, who: Caller, request: jobs_pb2.FinishStepRequest) -> jobs_pb2.FinishStepResponse:
        job = self._own_job(who, request.job_id)
        steprules.check_finish(request)
        return jobs_pb2.FinishStepResponse(step=await self.c.finish_step(job, request))


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, controller: Controller, gate: Gate, role: Role | None = None) -> None:
        self.c = controller
        self.gate = gate
        self.role = role or sole_controller(controller)
        self.reads = auth.ReadRules.from_config(controller.config.ctld.private_data)

    @rpc("/hpcq.v1.Admin/ListNodes")
    async def ListNodes(self, who: Caller, request: admin_pb2.ListNodesRequest) -> admin_pb2.ListNodesResponse:
        names = set(request.names)
        reply = admin_pb2.ListNodesResponse(nodes=[n.to_proto() for name, n in sorted(self.c.nodes.items())
                                                   if not names or name in names])
        visible = self.reads.visible(who)
        for node in reply.nodes:
            shown = [i for i in node.job_ids if (job := self.c.get(i)) is None or visible(job)]
            if len(shown) != len(node.job_ids):
                del node.job_ids[:]
                node.job_ids.extend(shown)
        return reply

    @rpc("/hpcq.v1.Admin/DrainNode", audited="node_drain", changes=True)
    async def DrainNode(self, who: Caller, request: admin_pb2.NodeActionRequest) -> admin_pb2.NodeActionResponse:
        admin.check_reason(request.reason)
        node = await self.c.set_drain(request.name, True, request.reason)
        return admin_pb2.NodeActionResponse(node=node.to_proto())

    @rpc("/hpcq.v1.Admin/ResumeNode", audited="node_resume", changes=True)
    async def ResumeNode(self, who: Caller, request: admin_pb2.NodeActionRequest) -> admin_pb2.NodeActionResponse:
        return admin_pb2.NodeActionResponse(node=(await self.c.set_drain(request.name, False, "")).to_proto())

    @rpc("/hpcq.v1.Admin/RemoveNode", audited="node_remove", changes=True)
    async def RemoveNode(self, who: Caller, request: admin_pb2.NodeActionRequest) -> admin_pb2.NodeActionResponse:
        return admin_pb2.NodeActionResponse(node=(await self.c.remove_node(request.name)).to_proto())

    @rpc("/hpcq.v1.Admin/ListQueues")
    async def ListQueues(self, who: Caller, request: admin_pb2.ListQueuesRequest) -> admin_pb2.ListQueuesResponse:
        names = set(request.names)
        return admin_pb2.ListQueuesResponse(queues=[q for name, q in sorted(self.c.queues.items())
                                                    if not names or name in names])

    @rpc("/hpcq.v1.Admin/CreateQueue", audited="queue_create", changes=True)
    async def CreateQueue(self, who: Caller, request: admin_pb2.QueueRequest) -> admin_pb2.QueueResponse:
        admin.check_queue(request.queue)
        return admin_pb2.QueueResponse(queue=await self.c.put_queue(request.queue, create=True))

    @rpc("/hpcq.v1.Admin/UpdateQueue", audited="queue_update", changes=True)
    async def UpdateQueue(self, who: Caller, request: admin_pb2.QueueRequest) -> admin_pb2.QueueResponse:
        admin.check_queue(request.queue, request.fields)
        return admin_pb2.QueueResponse(queue=await self.c.put_queue(request.queue, create=False,
                                                                    fields=request.fields))

    @rpc("/hpcq.v1.Admin/DeleteQueue", audited="queue_delete", changes=True)
    async def DeleteQueue(self, who: Caller, request: admin_pb2.DeleteQueueRequest) -> admin_pb2.DeleteQueueResponse:
        await self.c.delete_queue(request.name)
        return admin_pb2.DeleteQueueResponse()

    @rpc("/hpcq.v1.Admin/ListShares")
    async def ListShares(self, who: Caller, request: admin_pb2.ListSharesRequest) -> admin_pb2.ListSharesResponse:
        users, accounts = self.c.usage_now()
        reply = admin_pb2.ListSharesResponse(shares=[admin_pb2.Share(account=a, user=u, shares=n, usage=usage)
                                                     for a, u, n, usage in self.c.share_rows()],
                                             user_usage=users, account_usage=accounts,
                                             default_shares=self.c.shares.default)
        self.reads.shares_for(who, reply, lambda: {j.spec.account for j in self.c.jobs.values() if j.user == who.name
                                                   and j.spec.account})
        return reply

    @rpc("/hpcq.v1.Admin/SetShare", audited="share_set", changes=True)
    async def SetShare(self, who: Caller, request: admin_pb2.SetShareRequest) -> admin_pb2.SetShareResponse:
        s = request.share
        admin.check_share(s)
        await self.c.set_share(s.account, s.user, s.shares)
        return admin_pb2.SetShareResponse(share=s)

    @rpc("/hpcq.v1.Admin/ServerInfo")
    async def ServerInfo(self, who: Caller, request: admin_pb2.ServerInfoRequest) -> admin_pb2.ServerInfoResponse:
        by_state: dict[str, int] = {}
        visible = self.reads.visible(who)
        for job in filter(visible, self.c.jobs.values()):
            name = jobs_pb2.JobState.Name(job.state)
            by_state[name] = by_state.get(name, 0) + 1
        return admin_pb2.ServerInfoResponse(
            cluster=self.c.cluster, version=__version__, start_time=self.c.started_at,
            next_job_id=self.c.next_job_id, jobs_by_state=by_state, nodes=len(self.c.nodes), caller=who.name,
            caller_role=who.role, default_queue=next((q.name for q in self.c.queues.values() if q.is_default), ""),
            controllers=self.role.controllers(), last_takeover=self.role.last_takeover,
            settings={**slurm_settings(self.c.config),
                      "MailProg": self.c.notifier.sender.mail_program or slurmconf.NO_MAIL_PROGRAM})


def sole_controller(controller: Controller) -> Sole:
    """The role of a controller that is the only one (what tests and a SQLite store have)."""
    settings = controller.config.ctld
    return Sole(settings.advertise or settings.listen, controller.started_at)


class NodeSessionServicer(nodes_pb2_grpc.NodeSessionServicer):
    """One bidirectional stream per noded; the node's certificate CN is its name."""

    def __init__(self, controller: Controller, gate: Gate, role: Role | None = None) -> None:
        self.c = controller
        self.gate = gate
        self.role = role or sole_controller(controller)

    async def Connect(self, request_iterator: AsyncIterator[nodes_pb2.NodeMessage],
                      context: Context) -> AsyncIterator[nodes_pb2.CtldMessage]:
        who = await self.gate.admit(context, "/hpcq.v1.NodeSession/Connect")
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("kind") != "register":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "BAD_SESSION: the first message must be register")
        if first.register.name != who.name:
            log.warning("node certificate %r tried to register as %r", who.name, first.register.name)
            self.gate.audit.record("refused", who.name, who.role, method="/hpcq.v1.NodeSession/Connect",
                                   status="PERMISSION_DENIED", reason=f"registered as {first.register.name!r}")
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"node {who.name!r} may not open a session as {first.register.name!r}")
        name = who.name
        link = NodeLink()
        link.send(nodes_pb2.CtldMessage(registered=nodes_pb2.Registered(
            heartbeat_seconds=self.c.config.ctld.heartbeat_interval, controller_epoch=self.role.epoch, batches=True)))
        self.c.on_register(first.register, link)
        reader = asyncio.get_running_loop().create_task(self._read(name, request_iterator, link))
        try:
            async for message in batches.batched(link.outbox, batches.merge_launches if first.register.batches
                                                 else None):
                if not self.role.may_act():  # a controller that lost its lease sends nothing
                    return
                yield message
        finally:
            reader.cancel()
            self.c.on_disconnect(name, link)

    def _on_outcomes(self, name: str, started: Sequence[nodes_pb2.JobOutcome],
                     finished: Sequence[nodes_pb2.JobOutcome]) -> None:
        """A node's starts, then its ends, alone or in a batch (hpcq.batches)."""
        if started:   # a start is news the node is alive, as a heartbeat is
            self.c.on_heartbeat(name, nodes_pb2.Heartbeat(load=self.c.nodes[name].load))
        for outcome in started:
            self.c.on_job_started(outcome)
        for outcome in finished:
            self.c.on_job_finished(name, outcome)

    async def _read(self, name: str, request_iterator: AsyncIterator[nodes_pb2.NodeMessage], link: NodeLink) -> None:
        try:
            async for message in request_iterator:
                kind = message.WhichOneof("kind")
                if kind == "heartbeat":
                    self.c.on_heartbeat(name, message.heartbeat)
                elif kind == "job_started":
                    self._on_outcomes(name, [message.job_started], [])
                elif kind == "job_finished":
                    self._on_outcomes(name, [], [message.job_finished])
                elif kind == "outcomes":   # hpcq.batches: starts, then ends
                    self._on_outcomes(name, message.outcomes.started, message.outcomes.finished)
                elif kind == "step_tasks_ended":
                    self.c.on_step_tasks_ended(name, message.step_tasks_ended)
                elif kind == "output":
                    self.c.outputs.on_output(name, message.output)
                else:
                    log.warning("node %s sent an unexpected %s; ignored", name, kind)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken stream ends the session; the node reconnects
            log.info("node %s stream ended: %s", name, e)
        finally:
            link.close()
