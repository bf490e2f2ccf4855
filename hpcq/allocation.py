"""The client's side of an interactive allocation (Jobs.Allocate): salloc, srun outside a
job and qsub -I hold one open while their command runs.

The call streams both ways: the spec goes first, then ctld sends the job each time it
changes (queued, granted, ended); the client's release (with its command's exit status)
ends the allocation. Through the host agent the call has a socket connection of its own
(hpcq/wire.py says how a request stream travels on it); with a personal certificate it is
a grpc call on the transport's channel.

The first message carries an idempotency key: when the call is cut off (ctld restarted or
failed over, the host agent restarted, its connection to ctld broken) it is made again
with it, within the client's retry window, and ctld goes on with the same job instead of
queueing another; a release sent meanwhile is sent again. So ctld cannot tell a client that
went away from one that is coming back: a call that ends without a release keeps its
allocation for [ctld] allocation_grace_seconds before ctld cancels it. Release it.
"""
from __future__ import annotations

import _socket
import queue
import uuid

from hpcq import wire
from hpcq.api.lite import jobs_pb2
from hpcq.errors import HpcqError
from hpcq.transport import AgentTransport, Retrying, grpc_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Protocol

    from hpcq.transport import Transport

    class _Stream(Protocol):
        def send(self, body: bytes) -> None: ...
        def replies(self) -> Iterator[bytes]: ...
        def close(self) -> None: ...

METHOD = "/hpcq.v1.Jobs/Allocate"


class Allocation:
    """One allocation held open by this process. Read events() in one thread; release()
    and close() may be called from another."""

    def __init__(self, connect: Callable[[], _Stream], retrying: Retrying | None = None) -> None:
        self._connect = connect
        self._retrying = retrying
        self._stream = connect()
        self._release: bytes | None = None
        self._closed = False

    @classmethod
    def open(cls, transport: Transport, spec: jobs_pb2.JobSpec, retrying: Retrying | None = None) -> Allocation:
        """`retrying`: the window in which a call cut off by ctld's going away is made again
        (None: never)."""
        first = jobs_pb2.AllocateRequest(spec=spec, idempotency_key=uuid.uuid4().hex).SerializeToString()
        if isinstance(transport, AgentTransport):
            path = transport.path
            return cls(lambda: _AgentStream(path, first), retrying)
        return cls(lambda: _GrpcStream(transport, first), retrying)

    def events(self) -> Iterator[jobs_pb2.Job]:
        """The job as ctld has it now, then at each change, until it has ended (again
        from ctld's answer to the call made again, after an outage)."""
        if self._retrying is None:
            replies: Iterator[bytes] = self._stream.replies()
        else:
            replies = self._retrying.resumed(self._replies)
        for raw in replies:
            yield jobs_pb2.AllocateEvent.FromString(raw).job

    def _replies(self, again: bool) -> Iterator[bytes]:
        """The call's replies; made again (with its key, and the release if one was sent)
        after it was cut off, unless the client hung up meanwhile."""
        if again:
            self._stream.close()
            if self._closed:
                return iter(())
            self._stream = self._connect()
            if self._release is not None:
                self._send(self._release)
        return self._stream.replies()

    def release(self, exit_code: int) -> None:
        """The client is done: end the allocation, recording its command's exit status."""
        self._release = jobs_pb2.AllocateRequest(release=True, exit_code=exit_code).SerializeToString()
        self._send(self._release)

    def _send(self, body: bytes) -> None:
        try:
            self._stream.send(body)
        except HpcqError as e:
            if self._retrying is None or e.code != "UNAVAILABLE":
                raise
            # The call is cut off: events() makes it again, and sends the release with it.

    def close(self) -> None:
        """Hang up. An allocation not released first is not ended now: ctld holds it for
        [ctld] allocation_grace_seconds, for this call made again, then cancels it."""
        self._closed = True
        self._stream.close()


class _AgentStream:
    """The call on a connection of its own to hpcq-agent."""

    def __init__(self, path: str, first: bytes) -> None:
        self.path = path
        self._closed = False
        self._sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self._sock.connect(path)
            self._sock.sendall(wire.request_frame(METHOD, first))
        except OSError as e:
            self._sock.close()
            raise HpcqError("UNAVAILABLE", f"cannot reach hpcq-agent at {path}: {e.strerror or e}") from None

    def send(self, body: bytes) -> None:
        try:
            self._sock.sendall(wire.frame(wire.MESSAGE + body))
        except OSError as e:
            raise HpcqError("UNAVAILABLE", f"hpcq-agent at {self.path}: {e.strerror or e}") from None

    def _read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            try:
                chunk = self._sock.recv(min(n, 1 << 20))
            except OSError:
                chunk = b""
            if not chunk:
                raise HpcqError("UNAVAILABLE", "hpcq-agent closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def replies(self) -> Iterator[bytes]:
        while True:
            try:
                payload = self._read_exact(wire.frame_length(self._read_exact(wire.HEADER_SIZE)))
            except HpcqError:
                if self._closed:
                    return   # our own hang-up
                raise
            except wire.WireError as e:
                raise HpcqError("RESOURCE_EXHAUSTED", f"{wire.TOO_LARGE}: hpcq-agent's answer: {e}") from None
            kind = payload[:1]
            if kind == wire.END:
                return
            if kind == wire.ERROR:
                raise HpcqError(*wire.parse_error(payload))
            yield payload[1:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(_socket.SHUT_RDWR)   # wakes a reader blocked in recv
        except OSError:
            pass
        self._sock.close()


class _GrpcStream:
    """The call over the transport's grpc channel (a personal certificate)."""

    def __init__(self, transport: Any, first: bytes) -> None:
        self._requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._requests.put(first)
        # The transport may choose among several controllers: then its channel is a method.
        channel = transport._channel
        channel = channel() if callable(channel) else channel
        self._call = channel.stream_stream(METHOD)(iter(self._requests.get, None), metadata=transport._metadata)

    def send(self, body: bytes) -> None:
        self._requests.put(body)

    def replies(self) -> Iterator[bytes]:
        import grpc
        try:
            yield from self._call
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise grpc_error(e) from None

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()
