"""Record: plain mutable data for the shims' parsed requests and table rows, without
dataclasses (tests/unit/test_startup_imports.py keeps dataclasses out of a command)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Record:
    """Plain data, as a dataclass is, without importing dataclasses (inspect with it:
    ~8 ms of every command's start-up). A subclass declares its fields as annotated
    class attributes, most with a default; Record(*values, **fields) sets them in that
    order or by name, and each record gets its own copy of a list, set or dict default.
    Immutable records are named tuples instead."""

    def __init__(self, *values: Any, **fields: Any) -> None:
        names = type(self).__annotations__
        if len(values) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields, not {len(values)}")
        given = dict(zip(names, values, strict=False))   # the rest by name or default
        for name, value in fields.items():
            if name not in names or name in given:
                raise TypeError(f"{type(self).__name__}: unknown or repeated field {name!r}")
            given[name] = value
        for name in names:
            if name in given:
                value = given[name]
            elif hasattr(type(self), name):
                value = getattr(type(self), name)
                if isinstance(value, (list, set, dict)):
                    value = value.copy()
            else:
                raise TypeError(f"{type(self).__name__}: field {name!r} not given")
            setattr(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"
