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
    from collections.abc import Iterator
    from os import PathLike
    from typing import Protocol

    import grpc

    class Transport(Protocol):
        def unary(self, method: str, request: bytes, timeout: float) -> bytes: ...
        def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]: ...
        def close(self) -> None: ...

MESSAGE_LIMIT = 64 * 1024 * 1024


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
                raise HpcqError("UNAVAILABLE", f"cannot reach hpcq-agent at {self.path}: {e.strerror}") from None
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
        raise HpcqError(*wire.parse_error(payload))
    raise HpcqError("INTERNAL", f"hpcq-agent sent an unknown frame kind {kind!r}")


class GrpcTransport:
    """Mutual TLS straight to ctld with a personal certificate."""

    def __init__(self, server: str, *, ca: str | PathLike[str], cert: str | PathLike[str],
                 key: str | PathLike[str], server_name: str = "", metadata: tuple[tuple[str, str], ...] = ()) -> None:
        from pathlib import Path

        import grpc

        from hpcq import pki

        options = [("grpc.max_send_message_length", MESSAGE_LIMIT),
                   ("grpc.max_receive_message_length", MESSAGE_LIMIT)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        credentials = pki.channel_credentials(Path(ca), Path(cert), Path(key))
        self._grpc = grpc
        self._channel = grpc.secure_channel(server, credentials, options=options)
        self._metadata = metadata

    def unary(self, method: str, request: bytes, timeout: float) -> bytes:
        call = self._channel.unary_unary(method)
        try:
            return call(request, timeout=timeout, metadata=self._metadata)
        except self._grpc.RpcError as e:
            raise grpc_error(e) from None

    def stream(self, method: str, request: bytes, timeout: float | None = None) -> Iterator[bytes]:
        responses = self._channel.unary_stream(method)(request, timeout=timeout, metadata=self._metadata)
        try:
            yield from responses
        except self._grpc.RpcError as e:
            raise grpc_error(e) from None
        finally:
            responses.cancel()

    def close(self) -> None:
        self._channel.close()


def grpc_error(e: grpc.RpcError) -> HpcqError:
    code = e.code().name if hasattr(e, "code") and e.code() is not None else "UNKNOWN"
    details = e.details() if hasattr(e, "details") else str(e)
    # grpc's own refusal of a message over MESSAGE_LIMIT, on either side ("Sent message
    # larger than max (N vs. M)", "Received message larger than max ...").
    if code == "RESOURCE_EXHAUSTED" and "message larger than max" in (details or ""):
        details = f"{wire.TOO_LARGE}: {details}"
    return HpcqError(code, details)
