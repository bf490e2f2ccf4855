"""Checks of the Admin requests that need no cluster state: queues, shares, node
actions. Each error names the field. Staff send these, but what they store is printed
by every user's commands and read by every scheduling pass, so it is checked as a
user's job is: names that fit on one line and in a list, enums that exist, numbers
the scheduler can use."""
from __future__ import annotations

from collections.abc import Iterable

from hpcq.api import admin_pb2
from hpcq.ctld import fieldpaths
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.jobs import MAX_MEM_MB, MAX_NAME

MAX_REASON = 1024
# A name is printed in tables and lists and parsed back: `-p a,b`, `key=value`, and
# (queues, accounts, nodes) `queue@server`; a user's name may be `alice@example.org`.
_NOT_IN_USER_NAMES = frozenset(",:=") | frozenset(chr(c) for c in range(33)) | {"\x7f"}
_NOT_IN_NAMES = _NOT_IN_USER_NAMES | {"@"}


def check_name(value: str, where: str, token: str, *, user: bool = False) -> None:
    if not value:
        raise InvalidArgument(token, f"{where}: empty")
    if len(value) > MAX_NAME:
        raise InvalidArgument(token, f"{where}: longer than {MAX_NAME} characters")
    forbidden = _NOT_IN_USER_NAMES if user else _NOT_IN_NAMES
    bad = next((c for c in value if c in forbidden), None)
    if bad is not None:
        raise InvalidArgument(token, f"{where}: {value!r}: {bad!r} is not allowed in a name")


def check_reason(value: str, where: str = "reason") -> None:
    """A drain reason: one line of text, as sinfo -R prints it."""
    if len(value) > MAX_REASON:
        raise InvalidArgument("BAD_REQUEST", f"{where}: longer than {MAX_REASON} characters")
    if any(c in value for c in "\0\n\r"):
        raise InvalidArgument("BAD_REQUEST", f"{where}: NUL or line break")


def check_queue(queue: admin_pb2.Queue, fields: Iterable[str] | None = None) -> None:
    """A queue to create (every field), or the fields an update takes from it."""
    check_name(queue.name, "queue.name", "BAD_QUEUE")
    if fields is None:
        named = set(admin_pb2.Queue.DESCRIPTOR.fields_by_name)
    else:
        named = {path.partition(".")[0] for path in fieldpaths.check(admin_pb2.Queue.DESCRIPTOR, fields)}
    if "state" in named and queue.state not in admin_pb2.Queue.State.values():
        raise InvalidArgument("BAD_QUEUE", f"queue.state: {queue.state} is not a queue state")
    for field in ("nodes", "allowed_users", "allowed_groups"):
        if field in named:
            for i, item in enumerate(getattr(queue, field)):
                check_name(item, f"queue.{field}[{i}]", "BAD_QUEUE", user=field != "nodes")
    if "default_mem_per_cpu_mb" in named and queue.default_mem_per_cpu_mb > MAX_MEM_MB:
        raise InvalidArgument("BAD_QUEUE", f"queue.default_mem_per_cpu_mb: {queue.default_mem_per_cpu_mb} is more "
                              f"than {MAX_MEM_MB}")


def check_share(share: admin_pb2.Share) -> None:
    check_name(share.account, "share.account", "BAD_SHARE")
    if share.user:
        check_name(share.user, "share.user", "BAD_SHARE", user=True)
