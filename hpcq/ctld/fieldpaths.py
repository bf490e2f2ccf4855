"""Field paths of Update requests ("name", "resources.nodes"): a FieldMask by hand.

`check` refuses, naming the path, what the copy could not follow: a name the message
does not have, or a step into a field that has no fields (a number, a string, a
repeated field or a map). Both Jobs/Update and Admin/UpdateQueue check their paths
before anything is changed.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from hpcq.ctld.errors import InvalidArgument

if TYPE_CHECKING:
    # What types-protobuf says a generated message's DESCRIPTOR may be besides the pure one.
    from google._upb._message import Descriptor as UpbDescriptor

MAX_PATHS = 1000    # far more than any message here has fields; each path is a copy


def check(descriptor: Descriptor | UpbDescriptor, paths: Iterable[str], where: str = "fields") -> list[str]:
    """The paths, each one known; raises InvalidArgument (BAD_FIELD) for the first that is not."""
    paths = list(paths)
    if len(paths) > MAX_PATHS:
        raise InvalidArgument("BAD_FIELD", f"{where}: {len(paths)} paths; at most {MAX_PATHS}")
    for i, path in enumerate(paths):
        message = descriptor
        parts = path.split(".")
        for depth, part in enumerate(parts):
            field = message.fields_by_name.get(part)
            if field is None:
                raise InvalidArgument("BAD_FIELD", f"{where}[{i}]: unknown field {path!r}")
            if depth + 1 < len(parts):
                if field.message_type is None or field.is_repeated:
                    raise InvalidArgument("BAD_FIELD", f"{where}[{i}]: {path!r}: {part} has no fields")
                message = field.message_type
    return paths


def copy_path(source: Message, target: Message, path: str) -> None:
    """Copy one dotted field path (checked by `check`) from one message to another."""
    head, _, rest = path.partition(".")
    if head not in source.DESCRIPTOR.fields_by_name:
        raise InvalidArgument("BAD_FIELD", f"fields: unknown field {path!r}")
    field = source.DESCRIPTOR.fields_by_name[head]
    if rest:
        copy_path(getattr(source, head), getattr(target, head), rest)
    elif field.message_type is not None and not field.message_type.GetOptions().map_entry and \
            not field.is_repeated:
        getattr(target, head).CopyFrom(getattr(source, head))
    elif field.is_repeated:
        target.ClearField(head)
        container = getattr(target, head)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            container.update(getattr(source, head))
        elif field.message_type is not None:
            for item in getattr(source, head):
                container.add().CopyFrom(item)
        else:
            container.extend(getattr(source, head))
    else:
        setattr(target, head, getattr(source, head))
