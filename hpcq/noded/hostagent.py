"""hpcq-agent: vouches for local users, as munge does for Slurm.

It listens on a Unix socket that every local user may open, asks the kernel who the
caller is (SO_PEERCRED), and forwards the caller's request to ctld over one long-lived
mutual-TLS channel with the host's certificate, naming the user in the call's
metadata. ctld believes that only from certificates with the `host` role. Requests are
passed through as bytes; the agent never parses them, so it is cheap and version-blind.

Every local user may write anything to the socket, so nothing a client chooses costs the
agent more than a bounded amount: the rate limit is the first thing each request meets,
a method name becomes a metric label only if it names an RPC of the API, an answer
is drained before the next request is read, and one user holds at most
MAX_CONNECTIONS_PER_USER connections and MAX_FRAME_BYTES_PER_USER bytes of requests at
once (else one user's idle connections would take every descriptor the agent may open,
and its half-sent frames gigabytes, from everyone on the host).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pwd
import signal
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from hpcq import config as configuration
from hpcq import daemon, failover, logs, metrics, pki, private_files, wire
from hpcq.api import admin_pb2, jobs_pb2
from hpcq.pki import ASSERTED_USER_KEY
from hpcq.precedence import QUEUED_READS, Precedence
from hpcq.transport import server_list

log = logging.getLogger("hpcq.agent")

_UCRED = struct.Struct("3i")
FORWARD_TIMEOUT = 60.0
_SHOWN_METHOD = 100   # characters of an unknown method name echoed back to its sender
MAX_CONNECTIONS_PER_USER = 256
MAX_FRAME_BYTES_PER_USER = 4 * wire.MAX_FRAME
# A later message of a call that streams requests (Allocate's release) is this small: a
# larger one ends the client's side of the call.
MAX_STREAM_REQUEST_BYTES = 64 * 1024
# What a connection may buffer beyond the frame being read (asyncio pauses reading at
# twice this): a client that pipelines requests costs 512 KiB a connection, not two frames.
_READ_BUFFER = 256 * 1024


def forwardable_methods() -> dict[str, bool]:
    """Every Jobs and Admin RPC (never NodeSession), and whether it streams replies."""
    methods = {}
    for module, service in ((jobs_pb2, "Jobs"), (admin_pb2, "Admin")):
        descriptor = module.DESCRIPTOR.services_by_name[service]
        for m in descriptor.methods:
            methods[f"/{descriptor.full_name}/{m.name}"] = m.server_streaming
    return methods


def request_streaming_methods() -> frozenset[str]:
    """The forwardable RPCs whose client streams requests too (Jobs.Allocate)."""
    return frozenset(f"/{d.full_name}/{m.name}" for module, service in ((jobs_pb2, "Jobs"), (admin_pb2, "Admin"))
                     for d in [module.DESCRIPTOR.services_by_name[service]] for m in d.methods if m.client_streaming)


class TokenBucket:
    """Per-user request budget: `burst` at once, refilled at `rate` per second (Slurm's rl_*)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._tokens: dict[int, tuple[float, float]] = {}

    def take(self, uid: int, now: float) -> bool:
        tokens, last = self._tokens.get(uid, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._tokens[uid] = (tokens, now)
            return False
        self._tokens[uid] = (tokens - 1.0, now)
        return True


class UserBudget:
    """What each uid holds of the agent now: open connections, and bytes of requests being
    read or forwarded."""

    def __init__(self) -> None:
        self.connections: dict[int, int] = {}
        self.frame_bytes: dict[int, int] = {}

    def open(self, uid: int) -> bool:
        held = self.connections.get(uid, 0)
        if held >= MAX_CONNECTIONS_PER_USER:
            return False
        self.connections[uid] = held + 1
        return True

    def close(self, uid: int) -> None:
        self.connections[uid] -= 1
        if not self.connections[uid]:
            del self.connections[uid]

    def reserve(self, uid: int, length: int) -> bool:
        held = self.frame_bytes.get(uid, 0)
        if held + length > MAX_FRAME_BYTES_PER_USER:
            return False
        self.frame_bytes[uid] = held + length
        return True

    def release(self, uid: int, length: int) -> None:
        self.frame_bytes[uid] -= length
        if not self.frame_bytes[uid]:
            del self.frame_bytes[uid]


class Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Agent:
    def __init__(self, settings: configuration.AgentSection) -> None:
        self.settings = settings
        self.methods = forwardable_methods()
        self.bidi = request_streaming_methods()
        self.bucket = TokenBucket(settings.rate, settings.burst)
        self.budget = UserBudget()
        self.precedence = Precedence()
        options: list[tuple[str, int | str]] = [("grpc.max_send_message_length", wire.MAX_FRAME * 4),
                   ("grpc.max_receive_message_length", wire.MAX_FRAME * 4),
                   *failover.KEEPALIVE_OPTIONS]
        if settings.server_name:
            options.append(("grpc.ssl_target_name_override", settings.server_name))
        credentials = pki.channel_credentials(Path(settings.ca), Path(settings.cert), Path(settings.key))
        # A channel to each controller of [agent] server; requests go to the one in use.
        self.controllers = failover.Rotation(server_list(settings.server))
        self.channels = [grpc.aio.secure_channel(address, credentials, options=options)
                         for address in self.controllers.addresses]
        # Queued reads (squeue's) go over connections of their own: on one HTTP/2
        # connection, a submit's answer would queue behind a polling storm's listings of
        # hundreds of kilobytes each.
        read_options = [*options, ("grpc.use_local_subchannel_pool", 1)]
        self.read_channels = [grpc.aio.secure_channel(address, credentials, options=read_options)
                              for address in self.controllers.addresses]
        # One callable per method, made once: every shim command is a new connection
        # with a single call, so the agent's per-call work is on each command's path.
        # Bytes go through unparsed: no serializers.
        self._unaries = [
            {m: (read_channel if m in QUEUED_READS else channel).unary_unary(
                m, request_serializer=None, response_deserializer=None)
             for m, streams in self.methods.items() if not streams}
            for channel, read_channel in zip(self.channels, self.read_channels, strict=True)]

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel to the controller in use."""
        return self.channels[self.controllers.index]

    @property
    def _unary(self) -> dict[str, grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]]:
        return self._unaries[self.controllers.index]

    async def find_controller(self) -> bool:
        """Use a connected controller: the one in use if it is, else another that is, else
        the first to connect within CONNECT_TIMEOUT. False when none does (a stopped
        controller's channel leaves READY when its pings go unanswered)."""
        ready = grpc.ChannelConnectivity.READY
        states = [channel.get_state(try_to_connect=True) for channel in self.channels]
        if states[self.controllers.index] == ready:
            return True
        use = next((i for i, state in enumerate(states) if state == ready), None)
        if use is None:
            use = await failover.first_connected(self.channels)
        if use is None:
            return False
        if use != self.controllers.index:
            self.controllers.index = use
            log.info("forwarding to hpcq-ctld at %s", self.controllers.current)
        return True

    def user_for(self, uid: int) -> str:
        if uid == 0 and not self.settings.allow_root:
            raise Refusal("PERMISSION_DENIED", "hpcq-agent does not act for root (set [agent] allow_root)")
        if 0 < uid < self.settings.min_uid:
            raise Refusal("PERMISSION_DENIED", f"hpcq-agent does not act for uids below {self.settings.min_uid}")
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            raise Refusal("PERMISSION_DENIED", f"uid {uid} has no passwd entry on this host") from None

    async def serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        metrics.AGENT_CONNECTIONS.inc()
        if not self.budget.open(uid):
            # Answered and closed at once: waiting for its request would hold the descriptor.
            metrics.AGENT_REFUSED.labels("RESOURCE_EXHAUSTED").inc()
            writer.write(wire.frame(wire.error_payload("RESOURCE_EXHAUSTED", f"uid {uid} has "
                                                       f"{MAX_CONNECTIONS_PER_USER} connections open to this "
                                                       "host's hpcq-agent already; close some first")))
            writer.close()
            return
        try:
            await self._serve(uid, reader, writer)
        finally:
            self.budget.close(uid)

    async def _serve(self, uid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                user, refusal = self.user_for(uid), None
            except Refusal as e:  # answered after the request is read, so the client sees why
                user, refusal = "", e
            while True:
                try:
                    length = wire.frame_length(await reader.readexactly(wire.HEADER_SIZE))
                except asyncio.IncompleteReadError:
                    return  # the client is done
                except wire.WireError as e:
                    raise Refusal("INVALID_ARGUMENT", str(e)) from None
                if not self.budget.reserve(uid, length):
                    raise Refusal("RESOURCE_EXHAUSTED", f"uid {uid} is sending {MAX_FRAME_BYTES_PER_USER} bytes "
                                  "of requests to this host's hpcq-agent already; wait for their answers")
                try:
                    code = await self._answer_frame(uid, user, refusal, length, reader, writer)
                finally:
                    self.budget.release(uid, length)
                if code is None or writer.is_closing():
                    return  # the client gave up mid-frame, or the call (Allocate's) ended the connection
                await writer.drain()  # a client that does not read its answers stops being read
        except Refusal as e:
            log.info("refused uid %d: %s", uid, e)
            metrics.AGENT_REFUSED.labels(metrics.status_label(e.code)).inc()
            writer.write(wire.frame(wire.error_payload(e.code, str(e))))
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            try:
                await writer.drain()
            except ConnectionError:
                pass
            writer.close()

    async def _answer_frame(self, uid: int, user: str, refusal: Refusal | None, length: int,
                            reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str | None:
        """Read one request of `length` bytes and answer it: the answer's status code, or
        None if the client hung up before sending all of it."""
        try:
            payload = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None
        started = time.perf_counter()
        if not self.bucket.take(uid, time.monotonic()):
            who = user or f"uid {uid}"
            code = self._answer(writer, "RESOURCE_EXHAUSTED", f"rate limit: {who} may make "
                                f"{self.settings.rate:g} requests/s (bursts of {self.settings.burst}) "
                                "through this host's agent; slow down")
            method = ""
        else:
            if refusal is not None:
                raise refusal
            try:
                method, body = wire.split_request(payload)
            except wire.WireError as e:
                raise Refusal("INVALID_ARGUMENT", str(e)) from None
            code = await self.forward(user, method, body, reader, writer)
        metrics.on_agent_request(method, code, time.perf_counter() - started)
        return code

    @staticmethod
    def _answer(writer: asyncio.StreamWriter, code: str, message: str) -> str:
        writer.write(wire.frame(wire.error_payload(code, message)))
        return code

    async def forward(self, user: str, method: str, body: bytes, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> str:
        """Forward one request and write its answer; returns the status code's name."""
        streaming = self.methods.get(method)
        if streaming is None:
            shown = method if len(method) <= _SHOWN_METHOD else method[:_SHOWN_METHOD] + "..."
            return self._answer(writer, "UNIMPLEMENTED", f"{shown!r} is not available through the agent")
        metadata = ((ASSERTED_USER_KEY, user),)
        if not await self.find_controller():
            return self._answer(writer, "UNAVAILABLE",
                                f"no hpcq-ctld answers at {', '.join(self.controllers.addresses)}")
        try:
            if not streaming:
                if method in QUEUED_READS:   # a storm of them shares this agent with a user's submit
                    await self.precedence.stand_aside()
                    reply = await self._unary[method](body, metadata=metadata, timeout=FORWARD_TIMEOUT)
                else:
                    with self.precedence.other_call():
                        reply = await self._unary[method](body, metadata=metadata, timeout=FORWARD_TIMEOUT)
                writer.write(wire.frame(wire.MESSAGE + reply))
                await writer.drain()
                return "OK"
            if method in self.bidi:
                return await self._bidi(method, body, metadata, reader, writer)
            await self._stream(method, body, metadata, reader, writer)
            return "OK"
        except grpc.aio.AioRpcError as e:
            return self._answer(writer, e.code().name, e.details() or "")
        except wire.WireError as e:  # ctld may answer up to 4 frames' worth; the socket carries one
            return self._answer(writer, "RESOURCE_EXHAUSTED", f"{wire.TOO_LARGE}: ctld's answer does not fit "
                                f"the agent's socket ({e}); ask for less at a time")

    async def _stream(self, method: str, body: bytes, metadata: tuple[tuple[str, str], ...],
                      reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = self.channel.unary_stream(method, request_serializer=None, response_deserializer=None)(
            body, metadata=metadata)
        # A stream ends when the client hangs up, even if no event comes to fail a write.
        hangup = asyncio.ensure_future(reader.read(1))
        hangup.add_done_callback(lambda _: call.cancel())
        try:
            async for reply in call:
                writer.write(wire.frame(wire.MESSAGE + reply))
                await writer.drain()
            writer.write(wire.frame(wire.END))
        except asyncio.CancelledError:
            if not hangup.done():
                raise
        finally:
            hangup.cancel()
            # Gone before the connection's next request is read: a reader takes one waiter
            # at a time (else: RuntimeError, and the connection dropped).
            await asyncio.gather(hangup, return_exceptions=True)

    async def _bidi(self, method: str, body: bytes, metadata: tuple[tuple[str, str], ...],
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """A call that streams both ways (wire.py): the client's later MESSAGE frames go on
        as the call's requests, as the kernel's uid (already in `metadata`) sent them; its
        END frame or hang-up ends its side, which for Allocate ends the allocation. The
        connection carries nothing after such a call: it is closed at the call's end."""
        async def requests() -> AsyncIterator[bytes]:
            yield body
            while True:
                try:
                    length = wire.frame_length(await reader.readexactly(wire.HEADER_SIZE))
                    if length > MAX_STREAM_REQUEST_BYTES:
                        return
                    payload = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, wire.WireError, ConnectionError):
                    return
                if payload[:1] != wire.MESSAGE:
                    return
                yield payload[1:]
        call = self.channel.stream_stream(method, request_serializer=None, response_deserializer=None)(
            requests(), metadata=metadata)
        code = "OK"
        try:
            async for reply in call:
                writer.write(wire.frame(wire.MESSAGE + reply))
                await writer.drain()
            writer.write(wire.frame(wire.END))
        except grpc.aio.AioRpcError as e:   # answered here: the connection closes right after
            code = self._answer(writer, e.code().name, e.details() or "")
        finally:
            call.cancel()
            try:
                await writer.drain()
            except ConnectionError:
                pass
            writer.close()
        return code


async def run(settings: configuration.AgentSection) -> None:
    endpoint = metrics.serve(settings.metrics_listen, required=settings.metrics_required, daemon="hpcq-agent",
                             section="agent")
    agent = Agent(settings)
    path = Path(settings.socket)
    if not path.parent.exists():
        # 0755 whatever the umask: a directory others may write to would let them put a
        # socket of their own in the agent's place. One that exists (/run, /tmp) is the site's.
        private_files.make_dir(path.parent, 0o755)
    path.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(agent.serve_client, path=str(path), limit=_READ_BUFFER)
    os.chmod(path, 0o666)
    log.info("hpcq-agent on %s for ctld %s (rate %g/s, burst %d per user)", path, settings.server, settings.rate,
             settings.burst)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    path.unlink(missing_ok=True)
    for channel in (*agent.channels, *agent.read_channels):
        await channel.close(grace=None)
    if endpoint is not None:
        endpoint.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hpcq-agent", description="vouch for local users to hpcq-ctld")
    p.add_argument("--config", "-c")
    p.add_argument("--socket", help="override [agent] socket")
    logs.add_arguments(p)
    args = p.parse_args(argv)

    def overrides(config: configuration.Config) -> None:
        if args.socket:
            config.agent.socket = args.socket
    return daemon.run("hpcq-agent", args, "agent", lambda config: run(config.agent), overrides)


if __name__ == "__main__":
    sys.exit(main())
