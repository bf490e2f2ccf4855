"""Fuzzing ctld's gRPC boundary: a running ctld answers every request, however broken,
with a status that says what is wrong (INVALID_ARGUMENT, NOT_FOUND, ...), never UNKNOWN
or INTERNAL, and is healthy afterwards.

tests/unit/test_fuzz.py feeds the pure parsers and the Submit validator; this feeds the
real daemon, over real TLS, what a client can send: random bytes, mutated encodings of
valid requests (raw, with grpc's serializers bypassed, so that bytes which are no
message reach the server), and messages built field by field with extreme values
(NaN, infinities, the largest uint64, negative ints, enum numbers protobuf keeps
although no name has them, long and huge repeated fields, missing fields). Jobs'
methods are called as an ordinary user with a certificate, the Admin methods and job
steps as the cluster's admin.

Each case is drawn from random.Random(f"{seed}:{case}"): a fixed seed, and one from
HPCQ_FUZZ_SEED (random when unset), which a failure prints so that it can be replayed.
Cases run many at a time through one channel per caller (grpc futures), so 12,000
cost a few seconds.

The fuzzed jobs are held, begin in 2100, wait in a queue whose node does not exist, or
start: their owner has no account on the machine, so a started one fails at once, and
the scheduler has seen every value that passed validation. Afterwards every one is
released and cancelled, ctld is restarted (each stored record must load), its log
must show no failure, and a normal job must run to COMPLETED.
"""
from __future__ import annotations

import os
import random
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import psutil
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from hpcq import config, pki
from hpcq.api import admin_pb2, jobs_pb2
from tests.cluster import Cluster, start_cluster
from tests.conftest import wait_until
from tests.security.conftest import SecureCluster

pytestmark = pytest.mark.integration

FIXED_SEED = 20261213
CASES_PER_SEED = 6000
IN_FLIGHT = 64
DEADLINE = 30.0
FUZZER = "hpcq-fuzzer"          # a principal with no account on this machine: its jobs fail as they start
PRECISE = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED,
           grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.OUT_OF_RANGE}
SCRIPT = "#!/bin/sh\ntrue\n"
LATER = 4_102_444_800.0         # 2100-01-01: a begin time no fuzzed job reaches
NOWHERE = "fz-nowhere"          # a queue whose only node does not exist: its jobs stay pending


def run_seed() -> int:
    raw = os.environ.get("HPCQ_FUZZ_SEED", "")
    return int(raw) if raw else random.SystemRandom().randrange(2**32)


# -- values ------------------------------------------------------------------------------

INTS = {
    FieldDescriptor.TYPE_INT32: (0, 1, -1, 2, 7, 64, 65, 255, 256, -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (0, 1, -1, -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 1, 2, 3, 64, 65, 511, 4096, 100_000, 100_001, 2**31, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (0, 1, -1, 2**53 + 1, -2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 1, 2, 3, 2**32, 2**40 + 1, 2**53 + 1, 2**63, 2**64 - 1),
}
FLOATS = (0.0, -0.0, 0.5, -1.0, 1e-300, 5e-324, 1e12, 1e300, 1.7976931348623157e308, -1e308,
          float("inf"), float("-inf"), float("nan"))
STRINGS = ("", "a", "fz", "x" * 257, "y" * 5000, "\n", "a\nb", "\r", "\0", "a\0b", "\x7f", "é", "\u2028",
           "\U0001f600", "../../etc/passwd", "/tmp", "/", "a b", " ", ",", "a,b", "=", "a=b", ":", "@", "%", "%%",
           "-1", "0", "9" * 30, "1-3", "1-99:2", "0-4294967296", "afterok:1", "afterok:0", "singleton",
           "node[1-3]", "BASH_FUNC_f%%", "{}", "\ufffd")


def enum_numbers(f: FieldDescriptor) -> tuple[int, ...]:
    """Every named value, and numbers no name has (protobuf keeps them as ints)."""
    return (*(v.number for v in f.enum_type.values), -1, 6, 12, 99, 2**31 - 1)


def scalar(f: FieldDescriptor, rng: random.Random):  # any scalar
    if f.type == FieldDescriptor.TYPE_STRING:
        if rng.random() < 0.2:   # any of the first 256 code points, and one from further on
            return rng.randbytes(rng.randrange(1, 40)).decode("latin-1") + chr(rng.randrange(0x100, 0xD800))
        return rng.choice(STRINGS)
    if f.type == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randrange(0, 40))
    if f.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if f.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice(FLOATS)
    if f.type == FieldDescriptor.TYPE_ENUM:
        return rng.choice(enum_numbers(f))
    return rng.choice(INTS[f.type])


def how_many(rng: random.Random) -> int:
    """Items of a repeated field: usually a few, now and then a great many (see set_field)."""
    return rng.choice((0, 1, 1, 2, 3, 5)) if rng.random() < 0.97 else rng.choice((200, 2000, 20_000))


def fill(message: Message, rng: random.Random, depth: int = 0) -> Message:
    """Set a random choice of `message`'s fields to random values, nested ones too."""
    for f in message.DESCRIPTOR.fields:
        if rng.random() < 0.5:
            set_field(message, f, rng, depth)
    return message


def set_field(message: Message, f: FieldDescriptor, rng: random.Random, depth: int) -> None:
    # Many items are cheap: a few random ones, then copies of the smallest of them (map keys
    # numbered). Messages nest a few levels deep, a few of them in each repeated field.
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        key_f, value_f = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
        container = getattr(message, f.name)
        filler = None if value_f.message_type is not None else scalar(value_f, rng)
        for i in range(how_many(rng)):
            key = scalar(key_f, rng) if i < 5 else f"k{i}" if key_f.type == FieldDescriptor.TYPE_STRING else i
            if value_f.message_type is not None:
                if depth < 4 and i < 5:
                    fill(container[key], rng, depth + 1)
            else:
                container[key] = scalar(value_f, rng) if i < 5 else filler
    elif f.is_repeated:
        container = getattr(message, f.name)
        count = how_many(rng)
        if f.message_type is not None:
            for _ in range(min(count, 5) if depth < 4 else 0):
                fill(container.add(), rng, depth + 1)
        else:
            few = [scalar(f, rng) for _ in range(min(count, 5))]
            if few:
                smallest = min(few, key=lambda v: len(v) if isinstance(v, (str, bytes)) else 0)
                container.extend(few + [smallest] * (count - len(few)))
    elif f.message_type is not None:
        if depth < 4:
            fill(getattr(message, f.name), rng, depth + 1)
    else:
        setattr(message, f.name, scalar(f, rng))


def mutate_fields(message: Message, rng: random.Random) -> Message:
    """A few changes to a valid message: a field somewhere set to a random value, or cleared."""
    if not message.DESCRIPTOR.fields:
        return message
    for _ in range(rng.randrange(1, 5)):
        target: Message = message
        descriptor: Descriptor = message.DESCRIPTOR
        depth = 0
        while True:
            f = rng.choice(descriptor.fields)
            if f.message_type is not None and f.message_type.fields and rng.random() < 0.7:
                if not f.is_repeated:
                    target, descriptor, depth = getattr(target, f.name), f.message_type, depth + 1
                    continue
                items = getattr(target, f.name)
                if not f.message_type.GetOptions().map_entry and len(items):
                    target, descriptor, depth = rng.choice(items), f.message_type, depth + 1
                    continue
            break
        if rng.random() < 0.25:
            target.ClearField(f.name)
        else:
            if f.is_repeated and rng.random() < 0.5:
                target.ClearField(f.name)
            set_field(target, f, rng, depth)
    return message


# -- bytes -------------------------------------------------------------------------------

def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def random_field(rng: random.Random) -> bytes:
    """One wire-format field, of any number and type, its payload sometimes lying about its length."""
    number, wire_type = rng.choice((1, 2, 3, 5, 15, 16, 21, 23, 33, 99, 536870911)), rng.randrange(8)
    tag = varint(number << 3 | wire_type)
    if wire_type == 0:
        return tag + rng.choice((varint(rng.randrange(2**64)), b"\xff" * 10 + b"\x01", b"\x80"))
    if wire_type == 1:
        return tag + rng.randbytes(8)
    if wire_type == 5:
        return tag + rng.randbytes(4)
    payload = rng.randbytes(rng.randrange(0, 30))
    length = len(payload) if rng.random() < 0.8 else rng.choice((len(payload) + 5, 2**31, 2**63))
    return tag + varint(length) + payload


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(7)
        at = rng.randrange(len(b) + 1)
        if op == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[at:at] = rng.randbytes(rng.randrange(1, 8))
        elif op == 2:
            del b[at:at + rng.randrange(1, 16)]
        elif op == 3:
            del b[at:]
        elif op == 4:
            b[at:at] = b[at:at + rng.randrange(1, 32)] * rng.randrange(2, 4)
        elif op == 5:
            b[at:at] = random_field(rng)
        else:
            b[at:at] = b"\xff" * rng.randrange(1, 12)
    return bytes(b)


# -- what is called ------------------------------------------------------------------------

@dataclass
class World:
    """What the seeds refer to: the fuzzer's held jobs (those that Cancel, Hold, Release
    and Signal act on apart, so that Update always has queued jobs), the admin's running job."""
    held: list[int]
    acted_on: list[int]
    running: int
    running_node: str
    pending: list[int] = field(default_factory=list)     # waiting in NOWHERE: Explain plans them
    queues: list[str] = field(default_factory=lambda: ["fz-a", "fz-b"])


def spec(rng: random.Random, world: World) -> jobs_pb2.JobSpec:
    """A valid job: held, beginning in 2100, pending in a queue without nodes, or one
    that the scheduler starts at once and that fails at once (its owner has no account)."""
    s = jobs_pb2.JobSpec(name="fz", script=SCRIPT, submit_dir="/tmp", environment={"A": "1"},
                         resources=jobs_pb2.Resources(nodes=1, cpus_per_task=1))
    start = rng.randrange(4)
    if start == 0:
        s.hold = True
    elif start == 1:
        s.begin_time = LATER
    elif start == 2:
        s.queue = NOWHERE
    extra = rng.randrange(10)
    if extra == 1:
        s.dependencies.add(kind=jobs_pb2.Dependency.AFTER_OK, job_ids=[rng.choice(world.held)])
    elif extra == 2:
        s.array.tasks = "1-3"
    elif extra == 3:
        s.attributes["dependency"] = f"afterany:{rng.choice(world.held)}"
        s.dialect = jobs_pb2.DIALECT_SLURM
    elif extra == 4:
        s.retry.max_attempts, s.retry.backoff_seconds = 3, 10.0
    elif extra >= 5:    # one part of the job made of random values: where most checks are
        part = (s.dependencies.add(), s.resources, s.retry, s.array, s.resources)[extra - 5]
        fill(part, rng, depth=2)
        if extra == 5 and rng.random() < 0.7:
            s.dependencies[0].kind = rng.randrange(1, 6)    # a kind that exists, with random jobs
    return s


def spec_paths(descriptor: Descriptor, prefix: str = "", depth: int = 0) -> list[str]:
    paths = []
    for f in descriptor.fields:
        paths.append(prefix + f.name)
        if f.message_type is not None and not f.is_repeated and depth < 2:
            paths += spec_paths(f.message_type, f"{prefix}{f.name}.", depth + 1)
    return paths


JOB_PATHS = spec_paths(jobs_pb2.JobSpec.DESCRIPTOR)
QUEUE_PATHS = spec_paths(admin_pb2.Queue.DESCRIPTOR)
BAD_PATHS = ("", ".", "name.", "name.x", "resources.nodes.x", "environment.A", "dependencies.kind", "zzz",
             "resources..nodes", "array.tasks", "spec.name")


def paths(rng: random.Random, known: list[str]) -> list[str]:
    return [rng.choice(known) if rng.random() < 0.8 else rng.choice(BAD_PATHS) for _ in range(rng.randrange(0, 4))]


def submit_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.SubmitRequest(specs=[spec(rng, w) for _ in range(rng.choice((1, 1, 2)))],
                                  test_only=rng.random() < 0.1)


def queued_job(rng: random.Random, w: World) -> int:
    return rng.choice(w.held + w.pending)


def update_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.UpdateJobRequest(job_id=queued_job(rng, w), spec=spec(rng, w), fields=paths(rng, JOB_PATHS))


def list_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.ListJobsRequest(states=[jobs_pb2.HELD], users=[FUZZER], page_size=rng.choice((0, 1, 10)),
                                    page_token=rng.choice(("", "1", "5")))


def action_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.JobActionRequest(job_ids=rng.sample(w.acted_on, 2), signal=rng.choice((10, 15)))


def explain_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.ExplainRequest(job_id=queued_job(rng, w))


def get_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.GetJobsRequest(job_ids=[queued_job(rng, w), queued_job(rng, w)])


def step_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.CreateStepRequest(job_id=w.running, name="fz", ntasks=1, launch=jobs_pb2.StepLaunch(
        launch_node=w.running_node, argv=["true"], cwd="/tmp"))


def finish_step_seed(rng: random.Random, w: World) -> Message:
    return jobs_pb2.FinishStepRequest(job_id=w.running, step_id=rng.randrange(3), exit_code=rng.choice((0, 1)),
                                      cpu_seconds=0.5)


def queue_seed(rng: random.Random, w: World) -> Message:
    q = admin_pb2.Queue(name=rng.choice(w.queues), state=admin_pb2.Queue.DOWN, nodes=["fz-node"],
                        default_walltime_seconds=60)
    return admin_pb2.QueueRequest(queue=q, fields=paths(rng, QUEUE_PATHS))


def node_seed(rng: random.Random, w: World) -> Message:
    return admin_pb2.NodeActionRequest(name="fz-node", reason="fuzz")


def delete_queue_seed(rng: random.Random, w: World) -> Message:
    return admin_pb2.DeleteQueueRequest(name=rng.choice(w.queues))


def share_seed(rng: random.Random, w: World) -> Message:
    return admin_pb2.SetShareRequest(share=admin_pb2.Share(account=rng.choice(("fz-a", "fz-b")), shares=10))


def empty_seed(message: type[Message]) -> Callable[[random.Random, World], Message]:
    return lambda rng, w: message()


@dataclass(frozen=True)
class Method:
    path: str
    seed: Callable[[random.Random, World], Message]
    admin: bool = False          # called with the admin certificate, else as the fuzzer
    weight: int = 2


METHODS = (
    Method("/hpcq.v1.Jobs/Submit", submit_seed, weight=6),
    Method("/hpcq.v1.Jobs/Update", update_seed, weight=5),
    Method("/hpcq.v1.Jobs/List", list_seed),
    Method("/hpcq.v1.Jobs/Get", get_seed, weight=1),
    Method("/hpcq.v1.Jobs/Cancel", action_seed, weight=1),
    Method("/hpcq.v1.Jobs/Hold", action_seed, weight=1),
    Method("/hpcq.v1.Jobs/Release", action_seed, weight=1),
    Method("/hpcq.v1.Jobs/Signal", action_seed, weight=1),
    Method("/hpcq.v1.Jobs/Explain", explain_seed),
    Method("/hpcq.v1.Jobs/CreateStep", step_seed, weight=1),
    Method("/hpcq.v1.Jobs/CreateStep", step_seed, admin=True, weight=3),
    Method("/hpcq.v1.Jobs/FinishStep", finish_step_seed, admin=True),
    Method("/hpcq.v1.Admin/CreateQueue", queue_seed, admin=True, weight=3),
    Method("/hpcq.v1.Admin/UpdateQueue", queue_seed, admin=True, weight=3),
    Method("/hpcq.v1.Admin/DeleteQueue", delete_queue_seed, admin=True, weight=1),
    Method("/hpcq.v1.Admin/DrainNode", node_seed, admin=True, weight=1),
    Method("/hpcq.v1.Admin/ResumeNode", node_seed, admin=True, weight=1),
    Method("/hpcq.v1.Admin/RemoveNode", node_seed, admin=True, weight=1),
    Method("/hpcq.v1.Admin/SetShare", share_seed, admin=True),
    Method("/hpcq.v1.Admin/SetShare", share_seed, weight=1),
    Method("/hpcq.v1.Admin/ListNodes", empty_seed(admin_pb2.ListNodesRequest), weight=1),
    Method("/hpcq.v1.Admin/ListQueues", empty_seed(admin_pb2.ListQueuesRequest), weight=1),
    Method("/hpcq.v1.Admin/ListShares", empty_seed(admin_pb2.ListSharesRequest), weight=1),
    Method("/hpcq.v1.Admin/ServerInfo", empty_seed(admin_pb2.ServerInfoRequest), weight=1),
)
WEIGHTS = [m.weight for m in METHODS]
REAL_NAMES = ("batch", NOWHERE)  # what the admin's fuzzing must not change


@dataclass(frozen=True)
class Case:
    seed: int
    index: int
    method: Method
    how: str
    request: bytes

    def replay(self) -> str:
        return (f"HPCQ_FUZZ_SEED={self.seed} case {self.index}: {self.method.path} as "
                f"{'admin' if self.method.admin else FUZZER} ({self.how}) request {self.request[:120].hex()}"
                f"{'...' if len(self.request) > 120 else ''} ({len(self.request)} bytes)")


def case(seed: int, index: int, world: World) -> Case:
    rng = random.Random(f"{seed}:{index}")
    method = rng.choices(METHODS, WEIGHTS)[0]
    valid = method.seed(rng, world)
    draw = rng.random()
    if draw < 0.15:
        how, raw = "random bytes", rng.randbytes(rng.randrange(0, 200))
    elif draw < 0.5:
        how, raw = "mutated bytes", mutate_bytes(valid.SerializeToString(), rng)
    else:
        how, message = "mutated fields", mutate_fields(valid, rng)
        if method.admin:
            keep_real_objects(message)
        if method.path.endswith("CreateStep"):
            # The admin's step may run on the job's node: never with a fuzzed command.
            message.launch.ClearField("argv")
            message.launch.argv.append("true")
        raw = message.SerializeToString()
    return Case(seed, index, method, how, raw)


def keep_real_objects(message: Message) -> None:
    """The admin's fuzzing creates and changes its own queues, never the real one."""
    target = getattr(message, "queue", message) if message.DESCRIPTOR.name == "QueueRequest" else message
    if "name" in target.DESCRIPTOR.fields_by_name and target.name in REAL_NAMES:
        target.name = "fz-" + target.name


# -- the cluster ---------------------------------------------------------------------------

@dataclass
class Fuzzed:
    secure: SecureCluster
    channels: dict[bool, grpc.Channel]      # admin? -> channel
    world: World


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    home = tmp_path_factory.mktemp("hpcq-fuzz")
    cluster = start_cluster(home, nodes=2, cpus=2, settings=("ctld.max_pending_jobs=1000000000",))
    try:
        secure = SecureCluster(cluster, config.load(home / "hpcq.toml").client.server)
        out = secure.pki / "people"
        pki.issue(secure.pki, "user", FUZZER, out)
        user = secure.channel(secure.credentials(out / f"{FUZZER}.crt", out / f"{FUZZER}.key"))
        admin = secure.channel(secure.credentials(secure.pki / "client.crt", secure.pki / "client.key"))
        with secure.client(out / f"{FUZZER}.crt", out / f"{FUZZER}.key") as fuzzer, secure.admin() as root:
            root.create_queue(admin_pb2.Queue(name=NOWHERE, nodes=["fz-no-such-node"]))
            held = fuzzer.submit([jobs_pb2.JobSpec(name=f"fz-held-{i}", script=SCRIPT, submit_dir="/tmp", hold=True)
                                  for i in range(16)])
            pending = fuzzer.submit([jobs_pb2.JobSpec(name=f"fz-pending-{i}", script=SCRIPT, submit_dir="/tmp",
                                                      queue=NOWHERE) for i in range(4)])
            running = root.submit_one(jobs_pb2.JobSpec(name="fz-steps", script="#!/bin/sh\nsleep 300\n",
                                                       submit_dir="/tmp", queue="batch"))
            job = wait_until(lambda: next((j for j in root.get([running])[0] if j.state == jobs_pb2.RUNNING), None),
                             timeout=DEADLINE, what="the admin's job to run")
        yield Fuzzed(secure, {False: user, True: admin},
                     World(held[:8], held[8:], running, job.allocation.slices[0].node, pending))
        user.close()
        admin.close()
    finally:
        cluster.run("hpcqctl", "down", check=False)


def run_cases(fuzzed: Fuzzed, cases: Iterator[Case]) -> tuple[int, list[str]]:
    """Every case's call, IN_FLIGHT at a time; (calls made, the answers that were not precise)."""
    stubs = {(admin, m.path): channel.unary_unary(m.path) for admin, channel in fuzzed.channels.items()
             for m in METHODS}
    pending: deque[tuple[Case, grpc.Future]] = deque()
    bad: list[str] = []
    count = 0

    def settle() -> None:
        done, future = pending.popleft()
        code = future.code()
        if code not in PRECISE:
            bad.append(f"{code.name} {future.details()!r}\n  {done.replay()}")

    for c in cases:
        pending.append((c, stubs[(c.method.admin, c.method.path)].future(c.request, timeout=DEADLINE)))
        count += 1
        if len(pending) >= IN_FLIGHT:
            settle()
    while pending:
        settle()
    return count, bad


def test_every_malformed_request_gets_a_precise_status_and_ctld_stays_healthy(fuzzed: Fuzzed) -> None:
    seeds = (FIXED_SEED, run_seed())
    started = time.monotonic()
    total, bad = 0, []
    for seed in seeds:
        count, found = run_cases(fuzzed, (case(seed, i, fuzzed.world) for i in range(CASES_PER_SEED)))
        total, bad = total + count, bad + found
    elapsed = time.monotonic() - started

    assert total >= 10_000
    assert not bad, f"{len(bad)} of {total} calls answered UNKNOWN, INTERNAL or worse (seeds {seeds}):\n" + \
        "\n".join(bad[:20])
    print(f"{total} fuzzed calls in {elapsed:.1f} s, seeds {seeds}")
    healthy_after(fuzzed, seeds)


def healthy_after(fuzzed: Fuzzed, seeds: tuple[int, ...]) -> None:
    """Every fuzzed job can be released and cancelled, ctld restarts with all of them,
    nothing went wrong in its log, and it takes a job and runs it to the end."""
    cluster = fuzzed.secure.cluster
    with fuzzed.secure.admin() as root:
        unfinished = [j.id for j in root.list(users=[FUZZER])]
        root.release(unfinished)      # each held job enters the scheduler's view as it is released
        root.cancel([*unfinished, fuzzed.world.running])
        submitted = {j.id for j in root.list(users=[FUZZER], include_finished=True)}
    restart_ctld(cluster)
    with fuzzed.secure.admin() as root:
        assert root.server_info().cluster
        assert {j.id for j in root.list(users=[FUZZER], include_finished=True)} == submitted
        job_id = root.submit_one(jobs_pb2.JobSpec(name="after-fuzz", script=SCRIPT, submit_dir="/tmp", queue="batch"))
        done = wait_until(lambda: next((j for j in root.get([job_id])[0] if j.state in (
            jobs_pb2.COMPLETED, jobs_pb2.FAILED, jobs_pb2.CANCELLED)), None), timeout=DEADLINE,
            what="the job after the fuzzing to end")
    assert done.state == jobs_pb2.COMPLETED, done
    failures = [line for line in cluster.log("ctld").splitlines()
                if ": unexpected " in line or "scheduling pass failed" in line or line.startswith("Traceback")]
    assert not failures, f"ctld logged failures while fuzzed with seeds {seeds}:\n" + "\n".join(failures[:20])


def restart_ctld(cluster: Cluster) -> None:
    """Kill ctld (kill -9) and start it again: every answered submit is stored, and every stored record loads."""
    pid = int((cluster.home / "run" / "ctld.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               timeout=DEADLINE, what="ctld to stop")
    cluster.run("hpcqctl", "up", "--nodes", "2", "--cpus", "2")


def test_a_malformed_watch_is_refused_too(fuzzed: Fuzzed) -> None:
    """The one streaming method people call: refused before its first event, not UNKNOWN."""
    watch = fuzzed.channels[False].unary_stream("/hpcq.v1.Jobs/Watch")

    with pytest.raises(grpc.RpcError) as refused:
        next(iter(watch(b"\x0a\xff\xff", timeout=DEADLINE)))

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "BAD_REQUEST: WatchRequest: not a valid protobuf encoding"


def test_cases_replay_exactly() -> None:
    """A printed seed and case number give the same bytes again: what makes a failure replayable."""
    world = World(held=[1, 2, 3], acted_on=[4, 5, 6], running=7, running_node="node1")
    first = [case(7, i, world).request for i in range(50)]

    assert first == [case(7, i, world).request for i in range(50)]
    assert len(set(first)) > 40
