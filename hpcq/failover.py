"""How the daemons that dial ctld (noded, the agent) find the active controller of
several: they go through the `server` list in turn, and give a controller up when it
stops answering, which a stopped process does with its TCP connections still open: so
the channels ping it (KEEPALIVE_OPTIONS), and a connection must be ready within
CONNECT_TIMEOUT (a stopped process's kernel still accepts the TCP connection, the TLS
handshake then never ends)."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from hpcq.transport import RECONNECT_OPTIONS

# A ping every 2 s, and the connection is given up 3 s after one goes unanswered, with
# or without calls in flight (ctld accepts pings this often: max_ping_strikes 0).
KEEPALIVE_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 2_000), ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
    # Without it, grpc 1.85 waits 60 s for a ping's answer, whatever keepalive_timeout_ms says.
    ("grpc.http2.ping_timeout_ms", 3_000), *RECONNECT_OPTIONS]
CONNECT_TIMEOUT = 3.0


@dataclass
class Rotation:
    """The controllers' addresses and the one to use now."""
    addresses: list[str]
    index: int = 0

    @property
    def current(self) -> str:
        return self.addresses[self.index]

    def advance(self) -> bool:
        """Move to the next address; True when that starts a new round of the list."""
        self.index = (self.index + 1) % len(self.addresses)
        return self.index == 0


async def connected(channel: grpc.aio.Channel, timeout: float = CONNECT_TIMEOUT) -> bool:
    """Whether `channel` is connected within `timeout`: False at once when a connection
    attempt fails (refused: a standby, or a controller that is down), False after the
    timeout when one never completes (a stopped controller)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE or loop.time() >= deadline:
            return False
        try:
            await asyncio.wait_for(channel.wait_for_state_change(state), deadline - loop.time())
        except TimeoutError:
            return False
        state = channel.get_state(try_to_connect=True)
    return True


async def first_connected(channels: Sequence[grpc.aio.Channel], timeout: float = CONNECT_TIMEOUT) -> int | None:
    """The index of the first of `channels` to be connected, or None if none is within
    `timeout`."""
    attempts = {asyncio.ensure_future(connected(channel, timeout)): i for i, channel in enumerate(channels)}
    pending = set(attempts)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ready = sorted(attempts[d] for d in done if d.result())
            if ready:
                return ready[0]
        return None
    finally:
        for attempt in pending:
            attempt.cancel()
