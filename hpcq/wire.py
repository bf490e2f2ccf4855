"""The host agent's socket protocol: length-prefixed frames, no grpc needed.

Request:  frame( u16 method length | method | serialized request )
Replies:  frame( kind byte | payload ), kind one of
          MESSAGE (a serialized response), END (a stream is over), ERROR ("CODE\\nmessage").
A unary call gets one MESSAGE or one ERROR; a streaming call any number of MESSAGEs,
then END or ERROR. A connection may carry several calls, one after another; but a call
whose client streams too (Jobs.Allocate) is the connection's last: after its request frame,
each frame( MESSAGE | serialized request ) is its next request, frame( END ) or hanging up
ends the client's side, and the agent closes the connection when the call ends.
"""
from __future__ import annotations

import struct

MAX_FRAME = 16 * 1024 * 1024
MESSAGE, END, ERROR = b"M", b"E", b"X"
# The token (as ctld's "TOKEN: detail" messages begin) of an error about a request or an
# answer too large for the way it travels: this frame limit, or grpc's message limit.
TOO_LARGE = "TOO_LARGE"

_LENGTH = struct.Struct(">I")
_METHOD = struct.Struct(">H")


class WireError(Exception):
    pass


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise WireError(f"frame of {len(payload)} bytes exceeds the {MAX_FRAME}-byte limit")
    return _LENGTH.pack(len(payload)) + payload


def request_frame(method: str, body: bytes) -> bytes:
    name = method.encode()
    return frame(_METHOD.pack(len(name)) + name + body)


def split_request(payload: bytes) -> tuple[str, bytes]:
    if len(payload) < _METHOD.size:
        raise WireError("request frame too short")
    (length,) = _METHOD.unpack_from(payload)
    if len(payload) < _METHOD.size + length:
        raise WireError("request frame shorter than its method name")
    try:
        method = payload[_METHOD.size:_METHOD.size + length].decode()
    except UnicodeDecodeError:
        raise WireError("method name is not UTF-8") from None
    return method, payload[_METHOD.size + length:]


def error_payload(code: str, message: str) -> bytes:
    return ERROR + f"{code}\n{message}".encode()


def parse_error(payload: bytes) -> tuple[str, str]:
    code, _, message = payload[1:].decode(errors="replace").partition("\n")
    return code, message


def frame_length(header: bytes) -> int:
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME:
        raise WireError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte limit")
    return length


HEADER_SIZE = _LENGTH.size
