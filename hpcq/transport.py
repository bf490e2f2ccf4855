"""How the SDK reaches ctld: through the host agent's Unix socket, or directly over
mutual TLS with a personal certificate. Both carry serialized messages by method
name, so the Client does not care which one it has.

The agent path imports no grpc: that is what keeps a shim's start-up short. Nor the
socket module: its enums and selectors cost a command ~3 ms at start-up, and a Unix
stream socket needs nothing but _socket's own socket type.
"""
from __future__ import annotations

import _socket
import time

from hpcq import wire
from hpcq.errors import HpcqError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from os import PathLike
    from typing import Protocol

    import grpc

    class Transport(Protocol):
        def unary(self, method: str, request: bytes, timeout: float) -> bytes: ...
        def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]: ...
        def close(self) -> None: ...

MESSAGE_LIMIT = 64 * 1024 * 1024

# An overloaded ctld's refusal (RESOURCE_EXHAUSTED) says when to come back: in its
# trailing metadata under this key, and as `retry-after-ms=N` in its message, which is
# what reaches a client through the agent (it forwards a status's code and text only).
RETRY_AFTER_KEY = "retry-after-ms"

# Calls that may be sent again when their answer was lost: reads, and actions whose
# repeat changes nothing more (a second Cancel finds the job cancelled, a second Hold
# finds it held). Submit and the job actions are keyed by the client
# (SubmitRequest.idempotency_key, JobActionRequest.idempotency_key): a repeat is answered
# as the first attempt was, OK where it acted, and a requeued job is not requeued twice.
# The others (Signal, which may have reached the node before ctld stored its key,
# CreateStep, creating, deleting or removing a queue or node) are sent again only when
# they cannot have reached ctld: nothing connected, or ctld shed them unread.
REPEATABLE = frozenset("/hpcq.v1." + name for name in (
    "Jobs/Submit", "Jobs/Get", "Jobs/List", "Jobs/Cancel", "Jobs/Hold", "Jobs/Release", "Jobs/Update",
    "Jobs/Explain", "Jobs/Usage", "Jobs/FinishStep", "Jobs/Suspend", "Jobs/Resume", "Jobs/Requeue",
    "Admin/ListNodes", "Admin/DrainNode", "Admin/ResumeNode", "Admin/ListQueues", "Admin/UpdateQueue",
    "Admin/ServerInfo", "Admin/ListShares", "Admin/SetShare"))
# What an UNAVAILABLE says when the call was certainly not acted on: gRPC found no
# connection to ctld (down, restarting); the agent found no controller to forward to
# (hostagent.py); a standby controller refused it before any servicer ran
# (ctld/leadership.py). The agent passes ctld's and gRPC's words on as they are.
_NOT_SENT = ("failed to connect to all addresses", "no hpcq-ctld answers at", "is not the active controller")


class NotSent(HpcqError):
    """UNAVAILABLE for a call no controller acted on: it may go to the next one, or again."""

    def __init__(self, message: str) -> None:
        super().__init__("UNAVAILABLE", message)


class Overloaded(HpcqError):
    """RESOURCE_EXHAUSTED from a saturated ctld, which shed the call unread: it may be sent
    again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__("RESOURCE_EXHAUSTED", message)
        self.retry_after = retry_after


def _classified(code: str, message: str, retry_after_ms: str | None = None) -> HpcqError:
    """The error for a status: NotSent or Overloaded when it says so, else HpcqError."""
    if code == "UNAVAILABLE" and any(words in message for words in _NOT_SENT):
        return NotSent(message)
    if code == "RESOURCE_EXHAUSTED":
        hint = retry_after_ms or message.rpartition(RETRY_AFTER_KEY + "=")[2].partition(")")[0]
        if retry_after_ms or RETRY_AFTER_KEY + "=" in message:
            try:
                return Overloaded(message, int(hint) / 1000)
            except ValueError:
                pass
    return HpcqError(code, message)


class Retrying:
    """How a client rides out a controller restart, failover or overload: a call that
    failed UNAVAILABLE or DEADLINE_EXCEEDED is sent again, with capped exponential
    backoff and jitter, for up to `seconds` after its first failure, when it is safe to
    repeat (REPEATABLE, or it was never sent); one an overloaded ctld shed is sent again
    after the time ctld asked for. `on_retry` hears of the first retry (a command says
    so once on stderr)."""

    FIRST_DELAY = 0.2
    MAX_DELAY = 2.0

    def __init__(self, seconds: float, on_retry: Callable[[HpcqError], None] | None = None) -> None:
        self.seconds = seconds
        self.on_retry = on_retry
        self.retries = 0
        self.start_over()

    def call(self, attempt: Callable[[], bytes], repeatable: bool) -> bytes:
        self.start_over()
        while True:
            try:
                return attempt()
            except HpcqError as e:
                self.pause_or_raise(e, repeatable)

    def resumed(self, open_stream: Callable[[bool], Iterable[bytes]]) -> Iterator[bytes]:
        """The replies of a stream `open_stream(again)` opens, opened again (again=True) when
        it fails UNAVAILABLE (ctld went away mid-way), within this window for each gap: a
        stream that made progress starts a new window."""
        gaps = Retrying(self.seconds, self.on_retry)
        again = False
        while True:
            try:
                for reply in open_stream(again):
                    gaps.start_over()
                    yield reply
                return
            except HpcqError as e:
                if e.code != "UNAVAILABLE":
                    raise
                gaps.pause_or_raise(e, repeatable=True)
            again = True

    def start_over(self) -> None:
        """A new window: the next failure is a first one (a stream that made progress)."""
        self._deadline = 0.0
        self._delay = self.FIRST_DELAY

    def pause_or_raise(self, e: HpcqError, repeatable: bool) -> None:
        """Wait before sending again what failed with `e`; raise `e` when it may not be
        sent again, or the window is over."""
        if not (isinstance(e, (NotSent, Overloaded))
                or (repeatable and e.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"))):
            raise e
        import random
        now = time.monotonic()
        self._deadline = self._deadline or now + self.seconds
        # Jitter: clients that lost ctld together do not all come back at once.
        pause = (e.retry_after if isinstance(e, Overloaded) else self._delay / 2) * (1 + random.random())
        if now + pause > self._deadline:
            raise e
        if not self.retries and self.on_retry is not None:
            self.on_retry(e)
        self.retries += 1
        time.sleep(pause)
        self._delay = min(self._delay * 2, self.MAX_DELAY)


def retry_window(configured: float) -> float:
    """How long a client retries: HPCQ_RETRY_SECONDS, else the configured [client] retry_seconds."""
    import os
    named = os.environ.get("HPCQ_RETRY_SECONDS", "")
    try:
        return max(0.0, float(named)) if named else configured
    except ValueError:
        return configured


class AgentTransport:
    """One connection to hpcq-agent, reused for every call of this client."""

    def __init__(self, path: str | PathLike[str]) -> None:
        self.path = str(path)
        self._sock: _socket.socket | None = None

    def _connect(self) -> _socket.socket:
        if self._sock is None:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
            except OSError as e:
                sock.close()
                raise NotSent(f"cannot reach hpcq-agent at {self.path}: {e.strerror}") from None
            self._sock = sock
        return self._sock

    def _read_exact(self, n: int) -> bytes:
        sock = self._connect()
        chunks, remaining = [], n
        while remaining:
            chunk = sock.recv(min(remaining, 1 << 20))
            if not chunk:
                self.close()
                raise HpcqError("UNAVAILABLE", "hpcq-agent closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _reply(self) -> bytes:
        try:
            length = wire.frame_length(self._read_exact(wire.HEADER_SIZE))
        except wire.WireError as e:
            self.close()
            raise HpcqError("RESOURCE_EXHAUSTED", f"{wire.TOO_LARGE}: hpcq-agent's answer: {e}") from None
        return self._read_exact(length)

    def _send(self, method: str, request: bytes, timeout: float | None) -> None:
        try:
            frame = wire.request_frame(method, request)
        except wire.WireError as e:
            raise HpcqError("RESOURCE_EXHAUSTED", f"{wire.TOO_LARGE}: the request is too large for the hpcq-agent's "
                            f"socket: {e}") from None
        sock = self._connect()
        sock.settimeout(timeout)
        try:
            sock.sendall(frame)
        except OSError as e:
            self.close()
            raise HpcqError("UNAVAILABLE", f"hpcq-agent at {self.path}: {e.strerror or e}") from None

    def unary(self, method: str, request: bytes, timeout: float) -> bytes:
        self._send(method, request, timeout)
        try:
            payload = self._reply()
        except TimeoutError:
            self.close()
            raise HpcqError("DEADLINE_EXCEEDED", f"no answer from hpcq-agent within {timeout:g} s") from None
        return _message_or_raise(payload)

    def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]:
        """Replies until the stream ends; with a timeout, DEADLINE_EXCEEDED once it has passed."""
        self._send(method, request, None)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if deadline is not None:
                    self._connect().settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    payload = self._reply()
                except TimeoutError:
                    raise HpcqError("DEADLINE_EXCEEDED", f"stream still open after {timeout:g} s") from None
                if payload[:1] == wire.END:
                    return
                yield _message_or_raise(payload)
        finally:
            self.close()  # an abandoned stream leaves frames in flight: never reuse it

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _message_or_raise(payload: bytes) -> bytes:
    kind = payload[:1]
    if kind == wire.MESSAGE:
        return payload[1:]
    if kind == wire.ERROR:
        raise _classified(*wire.parse_error(payload))
    raise HpcqError("INTERNAL", f"hpcq-agent sent an unknown frame kind {kind!r}")


# A controller that refused a connection (down, restarting, a standby) is dialled again
# within a second. grpc's own backoff grows to 2 minutes: after a half-minute outage a
# client would dial again only after its retry window ([client] retry_seconds) had ended.
RECONNECT_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000)]


class GrpcTransport:
    """Mutual TLS straight to ctld with a personal certificate.

    `server` may list several controllers, comma-separated (host:port,host:port): a call
    goes to the one that last answered; one that cannot be connected to, or a standby
    that refuses to act, is passed over for the next in the list."""

    def __init__(self, server: str, *, ca: str | PathLike[str], cert: str | PathLike[str],
                 key: str | PathLike[str], server_name: str = "", metadata: tuple[tuple[str, str], ...] = ()) -> None:
        from pathlib import Path

        import grpc

        from hpcq import pki

        self._options = [("grpc.max_send_message_length", MESSAGE_LIMIT),
                         ("grpc.max_receive_message_length", MESSAGE_LIMIT), *RECONNECT_OPTIONS]
        if server_name:
            self._options.append(("grpc.ssl_target_name_override", server_name))
        self._credentials = pki.channel_credentials(Path(ca), Path(cert), Path(key))
        self._grpc = grpc
        self.servers = server_list(server)
        self._channels: dict[str, grpc.Channel] = {}
        self._current = 0
        self._metadata = metadata

    @property
    def server(self) -> str:
        """The controller calls go to now."""
        return self.servers[self._current]

    def _channel(self) -> grpc.Channel:
        channel = self._channels.get(self.server)
        if channel is None:
            channel = self._channels[self.server] = self._grpc.secure_channel(self.server, self._credentials,
                                                                                options=self._options)
        return channel

    def unary(self, method: str, request: bytes, timeout: float) -> bytes:
        tried = 0
        while True:
            call = self._channel().unary_unary(method)
            try:
                return call(request, timeout=timeout, metadata=self._metadata)
            except self._grpc.RpcError as e:
                error = grpc_error(e)
            tried += 1
            if not isinstance(error, NotSent) or tried == len(self.servers):
                raise error
            self._current = (self._current + 1) % len(self.servers)

    def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]:
        responses = self._channel().unary_stream(method)(request, timeout=timeout, metadata=self._metadata)
        try:
            yield from responses
        except self._grpc.RpcError as e:
            raise grpc_error(e) from None
        finally:
            responses.cancel()

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


def server_list(server: str) -> list[str]:
    """The controllers of a `server` setting: host:port, or several comma-separated."""
    return [s.strip() for s in server.split(",") if s.strip()] or [server]


def grpc_error(e: grpc.RpcError) -> HpcqError:
    code = e.code().name if hasattr(e, "code") and e.code() is not None else "UNKNOWN"
    details = e.details() if hasattr(e, "details") else str(e)
    # grpc's own refusal of a message over MESSAGE_LIMIT, on either side ("Sent message
    # larger than max (N vs. M)", "Received message larger than max ...").
    if code == "RESOURCE_EXHAUSTED" and "message larger than max" in (details or ""):
        return HpcqError(code, f"{wire.TOO_LARGE}: {details}")
    trailers = e.trailing_metadata() if hasattr(e, "trailing_metadata") else None
    hint = next((str(v) for k, v in trailers or () if k == RETRY_AFTER_KEY), None)
    return _classified(code, details or "", hint)
