"""The pure decisions of standby controllers: how long an active controller may act after
renewing its lease, which controller epoch a node obeys, which controller a daemon dials
next, a second controller on a SQLite store; and the calls a controller that may no longer
act refuses."""
from __future__ import annotations

import asyncio
import os

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from hpcq import daemon
from hpcq.ctld.leadership import LEASE_SECONDS, MARGIN, ActiveOnly, Sole, Tenure, ended_here, process_identity, running
from hpcq.failover import Rotation
from hpcq.noded.session import RECONNECT_FIRST_SECONDS, RECONNECT_MAX_SECONDS, EpochFence, reconnect_pause


def test_an_active_controller_acts_until_its_lease_minus_the_margin_after_a_renewal_began():
    tenure = Tenure(lease_seconds=5.0, margin=1.5)
    assert not tenure.may_act(0.0), "not before the first renewal"
    tenure.renewed(started=100.0)
    assert tenure.may_act(100.0) and tenure.may_act(103.4)
    assert not tenure.may_act(103.5), "the database's expiry (>= 105.0) is still 1.5 s away"
    tenure.renewed(started=101.0)
    assert tenure.may_act(104.4)


def test_a_renewal_that_began_earlier_than_the_last_one_does_not_shorten_the_tenure():
    tenure = Tenure(lease_seconds=5.0, margin=1.5)
    tenure.renewed(started=10.0)
    tenure.renewed(started=9.0)
    assert tenure.until == 13.5


def test_a_stopped_controller_resumes_with_its_tenure_over():
    """SIGSTOP for longer than the lease: the monotonic clock ran on meanwhile."""
    tenure = Tenure()
    tenure.renewed(started=50.0)
    assert not tenure.may_act(50.0 + LEASE_SECONDS)
    assert not tenure.may_act(50.0 + LEASE_SECONDS - MARGIN)


def test_a_lost_tenure_is_over_at_once():
    tenure = Tenure()
    tenure.renewed(started=0.0)
    tenure.end()
    assert not tenure.may_act(0.0)


def test_a_standby_need_not_wait_for_the_lease_of_a_process_of_its_own_host_that_has_ended():
    here = "boot-1/pid:[4026531836]/200"
    dead = {100}.__contains__

    def alive(pid: int) -> bool:
        return not dead(pid)
    assert ended_here("boot-1/pid:[4026531836]/100", here, alive)
    assert not ended_here("boot-1/pid:[4026531836]/101", here, alive), "it runs"
    assert not ended_here("boot-2/pid:[4026531836]/100", here, alive), "another host (or boot): nothing known"
    assert not ended_here("boot-1/pid:[4026532000]/100", here, alive), "another pid namespace (a container)"
    assert not ended_here("", here, alive)


def test_this_process_runs_and_names_itself():
    me = process_identity()
    assert me.endswith(f"/{os.getpid()}") and running(os.getpid())
    assert not ended_here(me, me, running)


def test_a_node_obeys_only_the_newest_controller_epoch():
    fence = EpochFence()
    assert fence.admit(0), "a single controller (SQLite) is epoch 0"
    assert fence.admit(3)
    assert fence.admit(3), "the same active controller again (a reconnect)"
    assert not fence.admit(2), "a controller replaced since"
    assert fence.admit(4) and fence.highest == 4
    assert not fence.admit(3)


def test_daemons_go_through_the_controllers_in_turn():
    rotation = Rotation(["a:1", "b:1", "c:1"])
    assert rotation.current == "a:1"
    assert not rotation.advance() and rotation.current == "b:1"
    assert not rotation.advance() and rotation.current == "c:1"
    assert rotation.advance() and rotation.current == "a:1", "a new round"
    single = Rotation(["a:1"])
    assert single.advance() and single.current == "a:1"


def test_a_node_retries_quickly_at_first_then_ever_less_often_up_to_the_cap():
    pauses, backoff, elapsed = [], RECONNECT_FIRST_SECONDS, 0.0
    while elapsed < 10:
        pauses.append(backoff)
        elapsed += backoff
        backoff = reconnect_pause(backoff, elapsed)
    quick = [p for p in pauses if p == RECONNECT_FIRST_SECONDS]
    assert len(quick) >= 10, "a controller that starts with its nodes is found within a pause of 0.1 s"
    assert pauses == sorted(pauses) and pauses[-1] == RECONNECT_MAX_SECONDS
    assert reconnect_pause(30.0, 30.0) == RECONNECT_MAX_SECONDS, "after a refusal's long pause"


def test_a_second_controller_on_a_sqlite_state_directory_refuses_to_start(tmp_path):
    first = Sole("127.0.0.1:6817", 0.0)
    first.lock(tmp_path, "sqlite:///x/hpcq.db")
    with pytest.raises(daemon.CannotStart, match="SQLite keeps a single controller; a standby controller needs a "
                                                 r"PostgreSQL store \(\[ctld\] database\)"):
        Sole("127.0.0.1:6818", 0.0).lock(tmp_path, "sqlite:///x/hpcq.db")
    assert [(c.address, c.role, c.epoch) for c in first.controllers()] == [("127.0.0.1:6817", "active", 0)]


class FakeRole:
    def __init__(self) -> None:
        self.acting = True

    def may_act(self) -> bool:
        return self.acting


def test_a_controller_that_may_no_longer_act_refuses_every_call_with_unavailable():
    async def scenario() -> None:
        role = FakeRole()
        server = grpc.aio.server(interceptors=[ActiveOnly(role)])
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                request = health_pb2.HealthCheckRequest()
                assert (await stub.Check(request)).status == health_pb2.HealthCheckResponse.SERVING
                role.acting = False
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.Check(request)
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                assert refused.value.details() == "this hpcq-ctld is not the active controller"
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    async for _ in stub.Watch(request):   # a streaming call too
                        pass
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            await server.stop(None)
    asyncio.run(scenario())


def test_status_names_the_active_controller_the_standbys_and_the_last_takeover(utc):
    from hpcq.api import admin_pb2
    from hpcq.ctl.status import controller_lines
    controllers = [admin_pb2.Controller(address="head2:6817", role="active", since=1_700_000_100.0, epoch=3),
                   admin_pb2.Controller(address="head1:6817", role="standby", since=1_700_000_109.0, epoch=3)]
    assert controller_lines(controllers, 1_700_000_100.0, now=1_700_000_226.0) == [
        "controllers: head2:6817 active since 2023-11-14 22:15:00 (epoch 3); "
        "head1:6817 standby since 2023-11-14 22:15:09",
        "last takeover: 2023-11-14 22:15:00, 2.1 min ago"]
    alone = [admin_pb2.Controller(address="127.0.0.1:6817", role="active", since=1_700_000_000.0)]
    assert controller_lines(alone, 0.0, now=1_700_000_001.0) == [
        "controllers: 127.0.0.1:6817 active since 2023-11-14 22:13:20 (epoch 0); no standby", "last takeover: never"]
    assert controller_lines([], 0.0, now=0.0) == [], "a ctld that does not say"
