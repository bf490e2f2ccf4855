"""What each caller reads: the read rules of hpcq/ctld/auth.py, and every Jobs and Admin
RPC held to them for every role and field class, by calling the real servicers (their
`rpc` wrapper included) on a real Controller, without a network."""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from hpcq import config
from hpcq.api import admin_pb2, jobs_pb2, nodes_pb2
from hpcq.ctld import auth, listing, server
from hpcq.ctld.boundary import Encoded
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.gate import Load
from hpcq.ctld.nodes_state import NodeLink
from tests.unit.controllers import make

S = jobs_pb2.JobState
R = jobs_pb2.JobActionResult
View = auth.View

SERVICES = [(module, service) for module, service in ((jobs_pb2, "Jobs"), (admin_pb2, "Admin"))]
METHODS = {f"/{d.full_name}/{m.name}": m for module, name in SERVICES
           for d in [module.DESCRIPTOR.services_by_name[name]] for m in d.methods}

ROLES = {
    "owner": auth.Caller("alice", "user"),
    "other": auth.Caller("bob", "user"),
    "operator": auth.Caller("ops", "operator"),
    "admin": auth.Caller("boss", "admin"),
    "node": auth.Caller("node1", "node"),
    "host": auth.Caller("login1", "host"),
}
SEE_EVERY_FIELD = {"owner", "operator", "admin"}
# RPCs whose answer is a job the call itself made for its caller: every person owns what it reads.
MAKES_ITS_OWN_JOB = {"/hpcq.v1.Jobs/Allocate"}

# One marker per field class, in every field of alice's jobs that carries one.
PUBLIC_MARK, OWNER_MARK = "PUBLICMARK", "OWNERMARK"
MARKS = {auth.FieldClass.PUBLIC: PUBLIC_MARK, auth.FieldClass.OWNER_ONLY: OWNER_MARK}


def secret_spec(**fields) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        name=f"job-{PUBLIC_MARK}", comment=PUBLIC_MARK, script=f"#!/bin/sh\necho {OWNER_MARK}\n",
        argv=[f"--token={OWNER_MARK}"], environment={"SECRET_TOKEN": OWNER_MARK},
        attributes={"qos": PUBLIC_MARK, "export": f"ALL,SECRET_TOKEN={OWNER_MARK}",
                    "submit_arguments": f"-v SECRET_TOKEN={OWNER_MARK} job.sh", "Resource_List.foo": PUBLIC_MARK},
        submit_dir="/tmp", **fields)


# -- the tables ---------------------------------------------------------------------------------

def test_every_jobs_and_admin_rpc_has_a_read_rule():
    assert sorted(auth.READS) == sorted(METHODS)


def _carries(message, wanted: str, seen=None) -> bool:  # a message descriptor
    seen = seen if seen is not None else set()
    if message.full_name in seen:
        return False
    seen.add(message.full_name)
    return message.name == wanted or any(
        f.message_type is not None and _carries(f.message_type, wanted, seen) for f in message.fields)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_rule_fits_what_the_answer_carries(method):
    rule, descriptor = auth.READS[method], METHODS[method]
    if rule is auth.Reads.STAFF:
        assert auth.TABLE[method] is auth.Scope.STAFF
        return
    if _carries(descriptor.output_type, "Job"):
        assert rule in (auth.Reads.JOBS, auth.Reads.OWN_JOB)
    if _carries(descriptor.output_type, "Share"):
        assert rule is auth.Reads.SHARES
    if _carries(descriptor.output_type, "Node"):
        assert rule is auth.Reads.NODE_JOBS
    if {"job_id", "job_ids"} & set(descriptor.input_type.fields_by_name):
        assert rule is not auth.Reads.NOTHING


def test_every_job_field_is_classified():
    job = jobs_pb2.Job.DESCRIPTOR
    paths = {f.name for f in job.fields} | {f"spec.{f.name}" for f in jobs_pb2.JobSpec.DESCRIPTOR.fields}
    assert paths == set(auth.JOB_FIELDS)
    assert {p for p, c in auth.JOB_FIELDS.items() if c is auth.FieldClass.OWNER_ONLY} == {
        "spec.script", "spec.argv", "spec.environment", "spec.attributes", "action_keys"}


def test_redaction_keeps_public_fields_and_clears_the_owners():
    job = jobs_pb2.Job(id=7, user="alice", spec=secret_spec())
    view = auth.redacted(job)
    assert OWNER_MARK not in str(view) and OWNER_MARK in str(job)
    assert view.spec.name == job.spec.name and view.spec.comment == PUBLIC_MARK
    assert dict(view.spec.attributes) == {"qos": PUBLIC_MARK, "Resource_List.foo": PUBLIC_MARK}


@pytest.mark.parametrize("private", [(), ("jobs",), ("accounting",), ("jobs", "accounting")])
@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("state", [S.PENDING, S.HELD, S.RUNNING, S.COMPLETED, S.CANCELLED])
def test_view_by_role_state_and_private_data(private, role, state):
    rules, who = auth.ReadRules.from_config(private), ROLES[role]
    job = jobs_pb2.Job(id=1, user="alice", state=state, spec=secret_spec())
    hidden_by = "accounting" if state in (S.COMPLETED, S.CANCELLED) else "jobs"
    if role in SEE_EVERY_FIELD:
        expected = View.FULL
    else:
        expected = View.HIDDEN if hidden_by in private else View.PUBLIC
    assert rules.view(who, job) is expected
    assert rules.may_see(who, job) is rules.visible(who)(job) is (expected is not View.HIDDEN)
    view = rules.view_for(who, job)
    assert (view is None) is (expected is View.HIDDEN)
    if view is not None:
        assert (OWNER_MARK in str(view)) is (expected is View.FULL)
        reply = jobs_pb2.ListJobsResponse.FromString(rules.encoded_view(who, job))
        assert list(reply.jobs) == [view]


# -- the servicers, RPC by RPC ----------------------------------------------------------------

def as_sent(reply) -> bytes:
    """A reply's bytes as grpc sends them (a List answer is encoded already)."""
    return reply.data if isinstance(reply, Encoded) else reply.SerializeToString()


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code


class Context:
    """What the servicers use of grpc's: abort, and the status the metrics read."""
    _code = None

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self._code = code
        raise Aborted(code, details)

    def code(self):
        return self._code


class Audit:
    def record(self, *args, **kwargs) -> None:
        pass


@dataclass
class Gate:
    """The real table decides; only the certificate is left out."""
    who: auth.Caller
    audit = Audit()
    load: Load = field(default_factory=Load)

    async def admit(self, context: Context, method: str) -> auth.Caller:
        try:
            auth.authorize(method, self.who)
        except auth.Refused as e:
            await context.abort(grpc.StatusCode[e.status], str(e))
        return self.who


@dataclass
class World:
    controller: object
    held: int       # alice's, queued
    running: int    # alice's, on node n1
    done: int       # alice's, cancelled
    bobs: int       # bob's, queued

    def servicers(self, who: auth.Caller) -> tuple[server.JobsServicer, server.AdminServicer]:
        gate = Gate(who)
        return server.JobsServicer(self.controller, gate), server.AdminServicer(self.controller, gate)


@pytest.fixture
def controllers(tmp_path):
    """make(private_data): a Controller on its own store, closed after the test."""
    stores = []

    def controller(private: tuple[str, ...] = ()):
        directory = tmp_path / f"store{len(stores)}"
        directory.mkdir()
        c, store = make(directory, private_data=list(private))
        stores.append(store)
        return c
    yield controller
    for store in stores:
        store.close()


async def _world(c) -> World:  # a Controller
    """alice's jobs held, running and finished, bob's held one, and fair-share rows."""
    c.on_register(nodes_pb2.Register(name="n1", hardware=nodes_pb2.Hardware(cpus=4, memory_mb=4000)), NodeLink())
    [running] = await c.submit("alice", [secret_spec(account="physics")])
    await c.schedule_once()
    held, done = await c.submit("alice", [secret_spec(hold=True, account="physics"), secret_spec(hold=True)])
    [bobs] = await c.submit("bob", [jobs_pb2.JobSpec(script="#!/bin/sh\ntrue\n", hold=True, account="chem")])
    await c.cancel(c.jobs[done], "alice")
    await c.set_share("physics", "", 10)
    await c.set_share("physics", "alice", 5)
    await c.set_share("chem", "bob", 5)
    assert c.jobs[running].state == S.RUNNING
    return World(c, held, running, done, bobs)


async def _watch(jobs: server.JobsServicer, world: World) -> bytes:
    """The initial event and a live one."""
    stream = jobs.Watch(jobs_pb2.WatchRequest(job_ids=[world.held], send_initial=True), Context())
    try:
        first = await anext(stream)
        world.controller.watchers.publish(world.controller.jobs[world.held])
        second = await anext(stream)
    finally:
        await stream.aclose()
    assert first.job.id == second.job.id == world.held
    return first.SerializeToString() + second.SerializeToString()


async def _output(jobs: server.JobsServicer, world: World) -> bytes:
    """The running job's output, as its node n1 answers the read ctld sends it."""
    c = world.controller
    link = c.nodes["n1"].link

    async def node() -> None:
        while (message := await link.outbox.get()) is not None:
            if message.HasField("read_output"):
                ask = message.read_output
                c.outputs.on_output("n1", nodes_pb2.OutputData(request_id=ask.request_id, data=b"hello\n",
                                                               offset=ask.offset, ended=True))
    answering = asyncio.create_task(node())
    try:
        chunks = [chunk async for chunk in jobs.Output(jobs_pb2.OutputRequest(job_id=world.running), Context())]
    finally:
        answering.cancel()
    assert [chunk.data for chunk in chunks] == [b"hello\n"]
    return b"".join(chunk.SerializeToString() for chunk in chunks)


def _drivers(world: World):  # method -> (servicers -> awaitable answer)
    held, running = world.held, world.running

    def unary(service: int, name: str, request):
        async def call(servicers):
            return as_sent(await getattr(servicers[service], name)(request, Context()))
        return call

    async def step(servicers):
        reply = await servicers[0].CreateStep(jobs_pb2.CreateStepRequest(job_id=running, name="hostname"), Context())
        await servicers[0].FinishStep(jobs_pb2.FinishStepRequest(job_id=running, step_id=reply.step.step_id),
                                      Context())
        return reply.SerializeToString()

    async def watch(servicers):
        return await _watch(servicers[0], world)

    async def allocate(servicers):
        """A held allocation's first event, then its release and the ended job."""
        released = asyncio.Event()

        async def requests():
            yield jobs_pb2.AllocateRequest(spec=secret_spec(hold=True))
            await released.wait()
            yield jobs_pb2.AllocateRequest(release=True)
        stream = servicers[0].Allocate(requests(), Context())
        try:
            events = [await anext(stream)]
            released.set()
            events += [event async for event in stream]
        finally:
            await stream.aclose()
        assert events[0].job.state == S.HELD and events[-1].job.state == S.CANCELLED
        return b"".join(e.SerializeToString() for e in events)

    async def output(servicers):
        return await _output(servicers[0], world)

    ids = jobs_pb2.JobActionRequest(job_ids=[held])
    queue = admin_pb2.Queue(name="extra", state=admin_pb2.Queue.UP)
    return {
        "/hpcq.v1.Jobs/Submit": unary(0, "Submit", jobs_pb2.SubmitRequest(specs=[jobs_pb2.JobSpec(
            script="#!/bin/sh\ntrue\n", hold=True)])),
        "/hpcq.v1.Jobs/Get": unary(0, "Get", jobs_pb2.GetJobsRequest(job_ids=[held])),
        "/hpcq.v1.Jobs/List": unary(0, "List", jobs_pb2.ListJobsRequest(include_finished=True)),
        "/hpcq.v1.Jobs/Watch": watch,
        "/hpcq.v1.Jobs/Allocate": allocate,
        "/hpcq.v1.Jobs/Cancel": unary(0, "Cancel", jobs_pb2.JobActionRequest(job_ids=[world.done])),
        "/hpcq.v1.Jobs/Signal": unary(0, "Signal", jobs_pb2.JobActionRequest(job_ids=[running], signal=10)),
        "/hpcq.v1.Jobs/Hold": unary(0, "Hold", ids),
        "/hpcq.v1.Jobs/Release": unary(0, "Release", jobs_pb2.JobActionRequest(job_ids=[world.done])),
        "/hpcq.v1.Jobs/Update": unary(0, "Update", jobs_pb2.UpdateJobRequest(
            job_id=held, spec=jobs_pb2.JobSpec(name=f"renamed-{PUBLIC_MARK}"), fields=["name"])),
        "/hpcq.v1.Jobs/Explain": unary(0, "Explain", jobs_pb2.ExplainRequest(job_id=held)),
        "/hpcq.v1.Jobs/CreateStep": step,
        "/hpcq.v1.Jobs/FinishStep": unary(0, "FinishStep", jobs_pb2.FinishStepRequest(job_id=running, step_id=99)),
        "/hpcq.v1.Jobs/Usage": unary(0, "Usage", jobs_pb2.UsageRequest(job_id=running)),
        "/hpcq.v1.Jobs/Requeue": unary(0, "Requeue", jobs_pb2.JobActionRequest(job_ids=[world.done])),
        "/hpcq.v1.Jobs/Suspend": unary(0, "Suspend", jobs_pb2.JobActionRequest(job_ids=[running])),
        "/hpcq.v1.Jobs/Resume": unary(0, "Resume", jobs_pb2.JobActionRequest(job_ids=[running])),
        "/hpcq.v1.Jobs/Output": output,
        "/hpcq.v1.Admin/ListNodes": unary(1, "ListNodes", admin_pb2.ListNodesRequest()),
        "/hpcq.v1.Admin/ListQueues": unary(1, "ListQueues", admin_pb2.ListQueuesRequest()),
        "/hpcq.v1.Admin/ServerInfo": unary(1, "ServerInfo", admin_pb2.ServerInfoRequest()),
        "/hpcq.v1.Admin/ListShares": unary(1, "ListShares", admin_pb2.ListSharesRequest()),
        "/hpcq.v1.Admin/SetShare": unary(1, "SetShare", admin_pb2.SetShareRequest(
            share=admin_pb2.Share(account="physics", shares=10))),
        "/hpcq.v1.Admin/DrainNode": unary(1, "DrainNode", admin_pb2.NodeActionRequest(name="n1", reason="x")),
        "/hpcq.v1.Admin/ResumeNode": unary(1, "ResumeNode", admin_pb2.NodeActionRequest(name="n1")),
        "/hpcq.v1.Admin/RemoveNode": unary(1, "RemoveNode", admin_pb2.NodeActionRequest(name="n9")),
        "/hpcq.v1.Admin/CreateQueue": unary(1, "CreateQueue", admin_pb2.QueueRequest(queue=queue)),
        "/hpcq.v1.Admin/UpdateQueue": unary(1, "UpdateQueue", admin_pb2.QueueRequest(queue=queue, fields=["state"])),
        "/hpcq.v1.Admin/DeleteQueue": unary(1, "DeleteQueue", admin_pb2.DeleteQueueRequest(name="extra")),
    }


def _expected(method: str, role: str, field_class: auth.FieldClass) -> str:
    """'refused', or whether the field class's marker is in the answer: 'shown' / 'absent'."""
    rule = auth.READS[method]
    try:
        auth.authorize(method, ROLES[role])
    except auth.Refused:
        return "refused"
    owns = role in SEE_EVERY_FIELD or method in MAKES_ITS_OWN_JOB
    if rule is auth.Reads.OWN_JOB and not owns:
        return "refused"
    if not _carries(METHODS[method].output_type, "Job"):
        return "absent"
    if field_class is auth.FieldClass.OWNER_ONLY and not owns:
        return "absent"
    return "shown"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_rpc_answers_each_role_by_its_read_rule(controllers, method):
    """RPC x role x field class, with the default private_data (none): the owner, operators
    and admins read every field; other users the PUBLIC ones; nodes and hosts nothing."""
    c = controllers()

    async def scenario() -> list[str]:
        world = await _world(c)
        drive = _drivers(world)[method]
        wrong = []
        # the owner last: actions by others must not spoil what the owner still has to read
        for role in ("node", "host", "other", "operator", "admin", "owner"):
            try:
                answer, outcome = await drive(world.servicers(ROLES[role])), "answered"
            except Aborted as e:
                answer, outcome = b"", e.code.name
            for field_class, mark in MARKS.items():
                expected = _expected(method, role, field_class)
                if outcome == "PERMISSION_DENIED":
                    got = "refused"
                else:  # another error (no such step or queue) carries nothing either
                    got = "shown" if mark.encode() in answer else "absent"
                if got != expected:
                    wrong.append(f"{role} {field_class.name}: expected {expected}, got {got}")
        return wrong
    assert asyncio.run(scenario()) == []


def test_the_drivers_cover_every_rpc(controllers):
    c = controllers()

    async def scenario():
        return set(_drivers(await _world(c)))
    assert asyncio.run(scenario()) == set(METHODS)


# -- private_data -------------------------------------------------------------------------

@pytest.mark.parametrize("private", [("jobs",), ("accounting",), ("jobs", "accounting")])
def test_private_data_hides_other_users_jobs_on_every_path(controllers, private):
    c = controllers(private)

    async def scenario() -> None:
        world = await _world(c)
        unfinished, finished = [world.held, world.running], [world.done]
        hidden = (unfinished if "jobs" in private else []) + (finished if "accounting" in private else [])
        jobs, admin = world.servicers(ROLES["other"])
        every = sorted(unfinished + finished)

        got = await jobs.Get(jobs_pb2.GetJobsRequest(job_ids=every), Context())
        assert sorted(got.unknown_ids) == sorted(hidden)
        listed = jobs_pb2.ListJobsResponse.FromString(
            as_sent(await jobs.List(jobs_pb2.ListJobsRequest(include_finished=True), Context())))
        assert {j.id for j in listed.jobs} == set(every + [world.bobs]) - set(hidden)
        acted = await jobs.Cancel(jobs_pb2.JobActionRequest(job_ids=every), Context())
        assert {r.job_id for r in acted.results if r.code == R.UNKNOWN_JOB} == set(hidden)
        for job_id in hidden:
            with pytest.raises(Aborted) as e:
                await jobs.Explain(jobs_pb2.ExplainRequest(job_id=job_id), Context())
            assert e.value.code == grpc.StatusCode.NOT_FOUND
        info = await admin.ServerInfo(admin_pb2.ServerInfoRequest(), Context())
        assert sum(info.jobs_by_state.values()) == len(c.jobs) - len(hidden)
        nodes = await admin.ListNodes(admin_pb2.ListNodesRequest(), Context())
        assert (world.running in nodes.nodes[0].job_ids) is (world.running not in hidden)

        # Watch: nothing of a hidden job, initial or live; bob's own job still comes
        stream = jobs.Watch(jobs_pb2.WatchRequest(job_ids=[*every, world.bobs], send_initial=True), Context())
        events = [(await anext(stream)).job.id for _ in range(len(every) + 1 - len(hidden))]
        for job_id in [*every, world.bobs]:
            c.watchers.publish(c.jobs[job_id])
        events += [(await anext(stream)).job.id for _ in range(len(every) + 1 - len(hidden))]
        await stream.aclose()
        assert not set(events) & set(hidden) and world.bobs in events
        # Watch of every job: it starts with each job bob may see, finished ones too, none hidden
        stream = jobs.Watch(jobs_pb2.WatchRequest(send_initial=True, finished_after=1.0), Context())
        first = [(await asyncio.wait_for(anext(stream), 10)).job.id for _ in range(len(c.jobs) - len(hidden))]
        await stream.aclose()
        assert first == sorted(set(c.jobs) - set(hidden))

        staff, _ = world.servicers(ROLES["operator"])
        seen = jobs_pb2.ListJobsResponse.FromString(
            as_sent(await staff.List(jobs_pb2.ListJobsRequest(include_finished=True), Context())))
        assert len(seen.jobs) == len(c.jobs)
    asyncio.run(scenario())


def test_private_usage_and_users_trim_shares(controllers):
    settings = [(), ("users",), ("usage",)]
    made = {private: controllers(private) for private in settings}

    async def scenario() -> dict:
        answers = {}
        for private in settings:
            world = await _world(made[private])
            _, admin = world.servicers(ROLES["owner"])
            reply = await admin.ListShares(admin_pb2.ListSharesRequest(), Context())
            answers[private] = {(s.account, s.user) for s in reply.shares}
            _, staff = world.servicers(ROLES["admin"])
            everything = await staff.ListShares(admin_pb2.ListSharesRequest(), Context())
            assert {(s.account, s.user) for s in everything.shares} == answers[()]
        return answers
    answers = asyncio.run(scenario())
    assert answers[()] == {("physics", ""), ("physics", "alice"), ("chem", "bob")}
    assert answers[("users",)] == {("physics", ""), ("physics", "alice")}
    assert answers[("usage",)] == {("physics", ""), ("physics", "alice")}


def test_shares_for_trims_usage_to_the_callers_own():
    reply = admin_pb2.ListSharesResponse(
        shares=[admin_pb2.Share(account="physics"), admin_pb2.Share(account="chem"),
                admin_pb2.Share(account="chem", user="bob")],
        user_usage={"alice": 1.0, "bob": 2.0}, account_usage={"physics": 1.0, "chem": 2.0, "bio": 3.0})
    users_only = admin_pb2.ListSharesResponse()
    users_only.CopyFrom(reply)
    auth.ReadRules.from_config(["users"]).shares_for(ROLES["owner"], users_only, lambda: {"bio"})
    assert [(s.account, s.user) for s in users_only.shares] == [("physics", ""), ("chem", "")]
    assert dict(users_only.user_usage) == {"alice": 1.0}
    assert dict(users_only.account_usage) == dict(reply.account_usage)
    auth.ReadRules.from_config(["usage"]).shares_for(ROLES["owner"], reply, lambda: {"bio"})
    assert [(s.account, s.user) for s in reply.shares] == []
    assert (dict(reply.user_usage), dict(reply.account_usage)) == ({"alice": 1.0}, {"bio": 3.0})


# -- List pages ---------------------------------------------------------------------------

def page_of(jobs, **limits):
    page = asyncio.run(listing.page_of(jobs, listing.encoded, **limits))
    return page, jobs_pb2.ListJobsResponse.FromString(page.reply("c"))


def test_a_list_page_stops_at_its_byte_budget_and_resumes_after_its_last_job():
    jobs = [jobs_pb2.Job(id=i, user="alice", spec=jobs_pb2.JobSpec(script="x" * 1000)) for i in range(1, 51)]
    seen, token, pages = [], "", 0
    while True:
        after = listing.resume_after(token)
        page, reply = page_of([j for j in jobs if j.id > after], budget=5000)
        assert sum(map(len, page.chunks)) <= 5000 and len(reply.jobs) >= 1
        assert list(reply.jobs) == [j for j in jobs if j.id in page.ids] and reply.cluster == "c"
        assert reply.next_page_token == page.next_page_token
        seen += [j.id for j in reply.jobs]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == list(range(1, 51)) and pages == 13


def test_a_long_listing_lets_the_loop_run_other_work_between_slices():
    jobs = [jobs_pb2.Job(id=i) for i in range(1, 3 * listing.SLICE + 2)]
    listed, other_ran_while_listing = [], []

    async def main():
        async def other():
            other_ran_while_listing.append(not listed)
        task = asyncio.ensure_future(other())
        listed.append(await listing.page_of(jobs, listing.encoded))
        await task
    asyncio.run(main())
    assert other_ran_while_listing == [True] and len(listed[0].ids) == len(jobs)


def test_a_job_larger_than_the_budget_still_gets_a_page_of_its_own():
    jobs = [jobs_pb2.Job(id=i, spec=jobs_pb2.JobSpec(script="x" * 9000)) for i in (1, 2)]
    page, reply = page_of(jobs, budget=5000)
    assert page.next_page_token == "1"
    assert [j.id for j in reply.jobs] == [1]


def test_a_get_answer_stops_at_its_byte_budget_and_names_the_ids_left_over():
    jobs = {i: jobs_pb2.Job(id=i, spec=jobs_pb2.JobSpec(script="x" * 1000)) for i in range(1, 11)}
    reply = jobs_pb2.GetJobsResponse()
    listing.answer_get(reply, [99, *jobs, 98], jobs.get, budget=5000)
    assert [j.id for j in reply.jobs] == [1, 2, 3, 4] and reply.ByteSize() <= 5100
    assert list(reply.unknown_ids) == [99] and list(reply.more_ids) == [5, 6, 7, 8, 9, 10, 98]


def test_page_size_still_counts_jobs():
    jobs = [jobs_pb2.Job(id=i) for i in range(1, 6)]
    assert page_of(jobs, size=2)[0].next_page_token == "2"
    assert listing.resume_after("2") == 2 and listing.resume_after("") == 0
    for garbage in ("x", "-1", "1e3", "9" * 21, "²"):
        with pytest.raises(InvalidArgument, match="page_token"):
            listing.resume_after(garbage)


# -- the admin guide says what the rules say ------------------------------------------------

def _guide_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "admin-guide.md").read_text()
    start = re.search(r"^## \d+\. What users can see and do$", text, re.M).start()
    return text[start:text.index("\n## ", start)]


def test_the_admin_guide_lists_what_auth_says():
    section = _guide_section()
    rpcs = "\n".join(f"| `{m.removeprefix('/hpcq.v1.')}` | {auth.TABLE[m].value} | {r.value} |"
                     for m, r in auth.READS.items())
    assert rpcs in section, f"the RPC table of docs/admin-guide.md should read:\n{rpcs}"
    private = "\n".join(f"| `{k}` | {v} |" for k, v in auth.PRIVATE_DATA.items())
    assert private in section, f"the private_data table of docs/admin-guide.md should read:\n{private}"
    assert set(auth.PRIVATE_DATA) == set(config.PRIVATE_DATA)
    owner_only = {p for p, c in auth.JOB_FIELDS.items() if c is auth.FieldClass.OWNER_ONLY}
    table = section[section.index("| field | holds |"):].split("\n\n")[0]
    assert set(re.findall(r"^\| `([\w.]+)` \|", table, re.M)) == owner_only
    keys = re.search(r"Keys of `spec.attributes` everyone who sees the job reads: (.*?)\.\n", section, re.S).group(1)
    assert set(re.findall(r"`([^`]+)`", keys)) == \
        auth.PUBLIC_ATTRIBUTES | {f"{p}*" for p in auth.PUBLIC_ATTRIBUTE_PREFIXES}


def test_a_listing_takes_a_turn_of_the_loop_when_its_slice_of_time_is_up(monkeypatch):
    """Jobs whose encoding is not kept cost tens of microseconds each: a slice ends after
    SLICE_SECONDS whatever its count, and after SLICE jobs however cheap they were."""
    clock = [0.0]
    monkeypatch.setattr(listing.time, "perf_counter", lambda: clock[0])
    turns_after = []

    async def between():
        turns_after.append(len(encoded))

    def costly(job):
        encoded.append(job.id)
        clock[0] += listing.SLICE_SECONDS / 2   # two jobs fill a slice
        return listing.encoded(job)

    encoded = []
    jobs = [jobs_pb2.Job(id=i) for i in range(1, 8)]
    asyncio.run(listing.page_of(jobs, costly, between=between))
    assert turns_after == [2, 4, 6]
    encoded, turns_after[:] = [], []
    cheap = [jobs_pb2.Job(id=i) for i in range(1, 2 * listing.SLICE + 2)]
    asyncio.run(listing.page_of(cheap, lambda job: encoded.append(job.id) or listing.encoded(job), between=between))
    assert turns_after == [listing.SLICE, 2 * listing.SLICE]
