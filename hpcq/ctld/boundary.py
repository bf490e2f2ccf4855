"""How requests reach the servicers: bytes that are not the request message are refused
with INVALID_ARGUMENT naming what is wrong, before any servicer sees them.

grpc's generated registration parses each request with `Message.FromString`; when that
raises, grpc answers UNKNOWN "Unexpected <class 'DecodeError'>". Here each method is
registered from the service's descriptor instead, with a parser that never raises: a
request that does not parse becomes a `Malformed`, and the method answers it with
INVALID_ARGUMENT. Client-streaming methods (the node session) keep grpc's parser: only
node certificates call them.
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, NoReturn

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

# Every servicer method's context; its message types are the method's, which
# the registration here does not know.
Context = grpc.aio.ServicerContext[Any, Any]


class Encoded:
    """A reply a servicer has serialized already (a shared List answer): sent as it is.
    (Not a bytes subclass: grpc takes only bytes themselves from a serializer.)"""
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class Malformed:
    """A request whose bytes are not its message, and why."""
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def parser(descriptor: Descriptor) -> Callable[[bytes], Any]:
    """`FromString` of the message, returning a Malformed where it would raise."""
    parse = message_factory.GetMessageClass(descriptor).FromString

    def deserialize(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError:
            return Malformed(why_malformed(descriptor, raw))
    return deserialize


def why_malformed(descriptor: Descriptor, raw: bytes) -> str:
    """What is wrong with bytes that do not parse as `descriptor`'s message: the path of
    a string field that is not UTF-8 (`specs[0].name: not valid UTF-8`), else that the
    encoding itself is broken."""
    try:
        path = _bad_utf8(descriptor, memoryview(raw), "")
    except (IndexError, ValueError):
        path = None
    if path is None:
        return f"{descriptor.name}: not a valid protobuf encoding"
    return f"{path}: not valid UTF-8"


def _varint(data: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _bad_utf8(descriptor: Descriptor, data: memoryview, prefix: str) -> str | None:
    """The first string field, at any depth, whose bytes are not UTF-8; None if none is
    found before the encoding breaks. Raises IndexError or ValueError on broken encoding."""
    counts: dict[int, int] = {}
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, i = _varint(data, i)
            continue
        if wire_type in (1, 5):
            i += 8 if wire_type == 1 else 4
            continue
        if wire_type != 2:
            return None
        length, i = _varint(data, i)
        payload, i = data[i:i + length], i + length
        if i > len(data):
            return None
        field = descriptor.fields_by_number.get(number)
        if field is None:
            continue
        index = counts.get(number, 0)
        counts[number] = index + 1
        path = f"{prefix}{field.name}" + (f"[{index}]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                str(payload, "utf-8")
            except UnicodeDecodeError:
                return path
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            found = _bad_utf8(field.message_type, payload, f"{path}.")
            if found is not None:
                return found
    return None


def add_servicer(server: grpc.aio.Server, servicer: object, service: ServiceDescriptor) -> None:
    """Register every method of `service` that `servicer` implements, as the generated
    add_*Servicer_to_server would, with requests parsed by `parser`."""
    handlers = {m.name: _handler(getattr(servicer, m.name), m) for m in service.methods}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    # grpc-stubs 1.53 predates this method (grpcio 1.62).
    server.add_registered_method_handlers(service.full_name, handlers)  # type: ignore[attr-defined]


def add_servicers(server: grpc.aio.Server, servicers: Iterable[tuple[object, ServiceDescriptor]]) -> None:
    for servicer, service in servicers:
        add_servicer(server, servicer, service)


def _handler(behaviour: Callable[..., Any], method: MethodDescriptor) -> grpc.RpcMethodHandler[Any, Any]:
    to_string = message_factory.GetMessageClass(method.output_type).SerializeToString

    def serialize(reply: Message | Encoded) -> bytes:
        return reply.data if isinstance(reply, Encoded) else to_string(reply)
    if method.client_streaming:
        from_string = message_factory.GetMessageClass(method.input_type).FromString
        make = (grpc.stream_stream_rpc_method_handler if method.server_streaming
                else grpc.stream_unary_rpc_method_handler)
        return make(behaviour, request_deserializer=from_string, response_serializer=serialize)
    parse = parser(method.input_type)
    if method.server_streaming:
        @functools.wraps(behaviour)
        async def streaming(request: Message | Malformed, context: Context) -> AsyncIterator[Message]:
            if isinstance(request, Malformed):
                await refuse(request, context)
            async for reply in behaviour(request, context):
                yield reply
        return grpc.unary_stream_rpc_method_handler(streaming, request_deserializer=parse,
                                                    response_serializer=serialize)

    @functools.wraps(behaviour)
    async def unary(request: Message | Malformed, context: Context) -> Message | Encoded:
        if isinstance(request, Malformed):
            await refuse(request, context)
        reply: Message | Encoded = await behaviour(request, context)
        return reply
    return grpc.unary_unary_rpc_method_handler(unary, request_deserializer=parse, response_serializer=serialize)


async def refuse(request: Malformed, context: Context) -> NoReturn:
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"BAD_REQUEST: {request.reason}")
