"""A hostile user against the read turns of a real hpcq-ctld (real TLS, certificates from
its CA), its waiting room kept small so that one user fills it: reads that hang up, time
out within milliseconds, are cancelled, malformed, or refused (a node's or a host's
certificate, which may not List), by the hundred and all at once. Meanwhile and afterwards
another user's List answers promptly, her changes show in her next List, the abuser's
reads cost her no refusal, and nothing is left counted: a full room's worth of reads is
taken again. (Through the agent, the same List reaches Gate.admit with the agent's
assertion: tests/security/test_storm_privacy.py storms that path.)"""
from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from hpcq import config, pki, wire
from hpcq.api import jobs_pb2
from hpcq.client import Client
from hpcq.errors import HpcqError
from hpcq.transport import AgentTransport, GrpcTransport
from tests import localusers
from tests.cluster import Cluster
from tests.conftest import wait_until
from tests.security.test_storm_privacy import Forked

pytestmark = pytest.mark.integration

ROOM = 16
HOSTILE, VICTIM = "hpcqbob", "hpcqalice"   # local users (tests/security/test_storm_privacy.py's too)
LIST = "/hpcq.v1.Jobs/List"
SECRET = "fairnessscript41c7"
PROMPT = 5.0   # seconds: a List on an idle two-core host takes milliseconds; the storm's share is bounded
# What the abuser's calls may be answered; UNKNOWN or INTERNAL would be ctld failing under them.
ABUSE_ANSWERS = {"OK", "DEADLINE_EXCEEDED", "CANCELLED", "RESOURCE_EXHAUSTED", "PERMISSION_DENIED"}


class Storm:
    """Mallory's abuse, in a thread with its own event loop, until stop()."""

    def __init__(self, server: str, ca: Path, certs: dict[str, tuple[Path, Path]]) -> None:
        self.server, self.ca, self.certs = server, ca, certs
        self.answers: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Storm:
        self._thread.start()
        wait_until(lambda: self.answers["mallory RESOURCE_EXHAUSTED"], timeout=60, what="mallory to fill the room")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()

    def _channel(self, who: str) -> grpc.aio.Channel:
        cert, key = self.certs[who]
        return grpc.aio.secure_channel(self.server, pki.channel_credentials(self.ca, cert, key))

    async def _run(self) -> None:
        rng = random.Random(7)
        channels = {who: [self._channel(who) for _ in range(2 if who == "mallory" else 1)] for who in self.certs}
        empty = jobs_pb2.ListJobsRequest().SerializeToString()

        async def one(who: str, body: bytes, *, timeout: float, cancel_after: float | None) -> None:
            call = rng.choice(channels[who]).unary_unary(LIST, request_serializer=None,
                                                         response_deserializer=None)(body, timeout=timeout)
            if cancel_after is not None:
                await asyncio.sleep(cancel_after)
                call.cancel()   # the client hangs up mid-wait
            try:
                await call
                code = "OK"
            except asyncio.CancelledError:
                code = "CANCELLED"
            except grpc.aio.AioRpcError as e:
                code = e.code().name
            (self.answers if body is empty else self.malformed)[f"{who} {code}"] += 1

        try:
            while not self._stop.is_set():
                burst = []
                for _ in range(4 * ROOM):
                    who = rng.choice(["mallory"] * 6 + ["node", "host"])
                    burst.append(one(who, empty, timeout=rng.choice([0.005, 0.02, 0.1, 2.0, 2.0]),
                                     cancel_after=rng.choice([None, None, 0.0, 0.01, 0.05])))
                burst.append(one("mallory", b"\xff\xff\xff", timeout=1.0, cancel_after=None))
                await asyncio.gather(*burst)
        finally:
            for chans in channels.values():
                for channel in chans:
                    await channel.close()


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Cluster, dict[str, str]]]:
    """One cluster whose agent every local user reaches (its ctld's room small)."""
    with localusers.shared_cluster("hpcq-fair.", f"ctld.max_waiting_reads={ROOM}", nodes=1, cpus=1) as (c, env):
        yield c, env


@pytest.fixture(scope="module")
def cluster(site) -> tuple[Cluster, str]:
    return site[0], config.load(site[0].home / "hpcq.toml").client.server


def issued(cluster: Cluster, role: str, name: str) -> tuple[Path, Path]:
    out = cluster.home / "pki" / "people"
    crt, key = out / f"{name}.crt", out / f"{name}.key"
    if not crt.exists():
        pki.issue(cluster.home / "pki", role, name, out)
    return crt, key


def person(cluster: Cluster, server: str, name: str) -> Client:
    crt, key = issued(cluster, "user", name)
    return Client(GrpcTransport(server, ca=cluster.home / "pki" / "ca.crt", cert=crt, key=key), timeout=30)


def timed_list(client: Client, **filters: object) -> tuple[list[jobs_pb2.Job], float]:
    started = time.monotonic()
    jobs = client.list(**filters)  # type: ignore[arg-type]
    return jobs, time.monotonic() - started


def test_abuse_of_the_waiting_room_costs_another_user_nothing_and_leaves_nothing_counted(cluster):
    cluster, server = cluster
    certs = {"mallory": issued(cluster, "user", "mallory"), "node": issued(cluster, "node", "fakenode"),
             "host": issued(cluster, "host", "fakehost")}
    spec = jobs_pb2.JobSpec(name="fair", script=f"#!/bin/sh\n# {SECRET}\nsleep 300\n", submit_dir="/tmp",
                            hold=True, begin_time=time.time() + 3600)   # pending, never started, once released
    with person(cluster, server, "alice") as alice, person(cluster, server, "bob") as bob:
        with Storm(server, cluster.home / "pki" / "ca.crt", certs) as storm:
            slowest = 0.0
            # read-your-writes under the storm: each change shows in alice's very next List
            job_id = alice.submit_one(spec)
            steps = [(lambda: None, lambda j: j.state == jobs_pb2.HELD),
                     (lambda: alice.update(job_id, jobs_pb2.JobSpec(name="renamed"), ["name"]),
                      lambda j: j.spec.name == "renamed"),
                     (lambda: alice.release([job_id]), lambda j: j.state == jobs_pb2.WAITING),   # for its begin time
                     (lambda: alice.hold([job_id]), lambda j: j.state == jobs_pb2.HELD),
                     (lambda: alice.cancel([job_id]), lambda j: j.state == jobs_pb2.CANCELLED)]
            for step, (act, shows) in enumerate(steps):
                act()
                jobs, took = timed_list(alice, include_finished=True)
                slowest = max(slowest, took)
                mine = {j.id: j for j in jobs}
                assert job_id in mine and shows(mine[job_id]), (step, mine[job_id].state, mine[job_id].reason,
                                                                 mine[job_id].cancelled_by, mine[job_id].end_time)
                assert SECRET in mine[job_id].spec.script   # whole: her own
                theirs, took = timed_list(bob, include_finished=True)
                slowest = max(slowest, took)
                assert job_id in {j.id for j in theirs}
                assert all(SECRET not in j.SerializeToString().decode("latin-1") for j in theirs)
            # a user holding less of the room than mallory is never refused, nor kept waiting long
            crt, key = issued(cluster, "user", "alice")
            with grpc.secure_channel(server, pki.channel_credentials(cluster.home / "pki" / "ca.crt", crt, key)) as ch:
                raw_list = ch.unary_unary(LIST, request_serializer=None, response_deserializer=None)
                for _ in range(20):
                    started = time.monotonic()
                    raw_list(jobs_pb2.ListJobsRequest().SerializeToString(), timeout=30)   # raises if refused
                    slowest = max(slowest, time.monotonic() - started)
            assert slowest < PROMPT, f"alice's List took {slowest:.2f} s under mallory's abuse"
        answers = dict(storm.answers)
    codes = {key.split()[1] for key in answers}
    assert codes <= ABUSE_ANSWERS, answers
    # the abuse reached ctld's room: some of mallory's reads waited and gave up or were given up
    assert answers.get("mallory DEADLINE_EXCEEDED", 0) + answers.get("mallory CANCELLED", 0) > ROOM, answers
    assert answers.get("node PERMISSION_DENIED") and answers.get("host PERMISSION_DENIED"), answers
    assert storm.malformed and "mallory UNKNOWN" not in storm.malformed, storm.malformed

    # Nothing left counted: a full room's worth of another user's reads at once all wait
    # their turn (had the count drifted by two, one would be refused RESOURCE_EXHAUSTED).
    assert room_is_empty(cluster, server)
    assert not tracebacks(cluster), "\n\n".join(tracebacks(cluster))


def room_is_empty(cluster: Cluster, server: str) -> bool:
    """Whether ROOM Lists of carol's at once all wait their turn: none is refused."""
    async def full_room() -> list[str]:
        crt, key = issued(cluster, "user", "carol")
        async with grpc.aio.secure_channel(server, pki.channel_credentials(
                cluster.home / "pki" / "ca.crt", crt, key)) as channel:
            call = channel.unary_unary(LIST, request_serializer=None, response_deserializer=None)

            async def one() -> str:
                try:
                    await call(jobs_pb2.ListJobsRequest().SerializeToString(), timeout=60)
                    return "OK"
                except grpc.aio.AioRpcError as e:
                    return e.code().name
            return await asyncio.gather(*[one() for _ in range(ROOM)])
    return set(asyncio.run(full_room())) == {"OK"}


# -- through the agent, as real unprivileged users -------------------------------------------

def hang_ups(socket_path: str) -> Callable[[Callable[..., bool], Callable[[], None]], tuple[int, int]]:
    """The hostile user's work: rounds of ROOM*3 squeue connections to the agent, a List
    or a malformed frame on each, half hung up at once and the rest after one more List
    of theirs is answered: how many rounds, and in how many that List was refused."""
    def work(stopped: Callable[..., bool], tell: Callable[[], None]) -> tuple[int, int]:
        listing, garbage = wire.request_frame(LIST, b""), wire.frame(b"\x00\x00\xff\xffno such method")
        rounds = refused = 0
        while not stopped():
            connections = []
            for i in range(3 * ROOM):
                connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                connection.connect(socket_path)
                connection.sendall(garbage if i % 7 == 0 else listing)
                connections.append(connection)
            for connection in connections[::2]:
                connection.close()
            try:   # one more, waited for while the rest wait: refused when the room is full
                AgentTransport(socket_path).unary(LIST, b"", 30)
            except HpcqError as e:
                refused += e.code == "RESOURCE_EXHAUSTED"
            for connection in connections[1::2]:   # the rest hang up mid-wait
                connection.close()
            rounds += 1
            if rounds == 2:
                tell()
        return rounds, refused
    return work


def victim(socket_path: str) -> Callable[[Callable[..., bool], Callable[[], None]], tuple[float, list[str], list]]:
    """Another user's squeue polls, and her own job's changes, through the agent meanwhile."""
    def work(stopped: Callable[..., bool], tell: Callable[[], None]) -> tuple[float, list[str], list]:
        transport, slowest, refusals = AgentTransport(socket_path), 0.0, []
        for _ in range(15):
            started = time.monotonic()
            try:
                transport.unary(LIST, b"", 30)
            except HpcqError as e:
                refusals.append(e.code)
            slowest = max(slowest, time.monotonic() - started)
        seen = []
        with Client(AgentTransport(socket_path), timeout=30) as client:
            job_id = client.submit_one(jobs_pb2.JobSpec(script=f"#!/bin/sh\n# {SECRET}\n", submit_dir="/tmp",
                                                        hold=True, begin_time=time.time() + 3600))
            for act in (lambda: None, lambda: client.release([job_id]), lambda: client.cancel([job_id])):
                act()
                mine = {j.id: j for j in client.list(include_finished=True)}
                seen.append((mine[job_id].state, SECRET in mine[job_id].spec.script) if job_id in mine else None)
        return slowest, refusals, seen
    return work


@pytest.mark.skipif(os.geteuid() != 0, reason="creates local users and changes uid")
def test_a_users_hang_ups_through_the_agent_cost_another_user_nothing_and_leave_nothing_counted(site, cluster):
    env = site[1]
    cluster, server = cluster
    users = localusers.ensure(HOSTILE, VICTIM)
    socket_path = env["HPCQ_AGENT_SOCKET"]
    hostile = Forked(users[HOSTILE], hang_ups(socket_path))
    try:
        hostile.told(timeout=60)
        slowest, refusals, seen = Forked(users[VICTIM], victim(socket_path)).result(timeout=120)
    finally:
        rounds, refused = hostile.result(timeout=60)
    assert rounds >= 2 and refused, (rounds, refused)   # the hostile user filled the room
    assert not refusals, refusals                        # and cost the other user no refusal
    assert slowest < PROMPT, f"a List through the agent took {slowest:.2f} s under the hang-ups"
    assert seen == [(jobs_pb2.HELD, True), (jobs_pb2.WAITING, True), (jobs_pb2.CANCELLED, True)], seen
    # The agent relays a read its client hung up on until ctld answers it (FORWARD_TIMEOUT):
    # those drain, and then nothing is left counted.
    wait_until(lambda: room_is_empty(cluster, server), timeout=90, what="the hung-up reads to drain")
    assert not tracebacks(cluster), "\n\n".join(tracebacks(cluster))


def tracebacks(cluster: Cluster) -> list[str]:
    """ctld's log lines saying a handler failed unexpectedly (hpcq.ctld.gate.rpc's last
    resort, or a read turn's InvalidStateError), each with what follows it. Not grpc's own
    "ExecuteBatchError raised in core", which it logs with a traceback now and then when
    a client's deadline passes as its answer is sent (the answer is dropped; nothing of
    ctld's fails)."""
    lines = cluster.log("ctld").splitlines()
    return ["\n".join(lines[i:i + 25]) for i, line in enumerate(lines)
            if ": unexpected " in line or "InvalidStateError" in line]
