"""How the daemons that dial ctld (noded, the agent) find the active controller of
several: they go through the `server` list in turn, and give a controller up when it
stops answering, which a stopped process does with its TCP connections still open: so
the channels ping it (KEEPALIVE_OPTIONS), and a connection must be ready within
CONNECT_TIMEOUT (a stopped process's kernel still accepts the TCP connection, the TLS
handshake then never ends)."""
from __future__ import annotations

from dataclasses import dataclass

# A ping every 2 s, and the connection is given up 3 s after one goes unanswered, with
# or without calls in flight (ctld accepts pings this often: max_ping_strikes 0).
KEEPALIVE_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.keepalive_time_ms", 2_000), ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
    # A controller that refused connections (a standby, a restart) is dialled again within a second.
    ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000)]
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
