"""Comparing ``--json`` documents with Slurm's: key sets, key order and value types, from
a schema learnt from the captured documents, and values leaf by leaf.

A path names where a value sits: ``jobs[].time.limit``; the keys of ``sockets`` and
``cores`` are CPU numbers, not names, and are written ``*``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.compat import captures

NUMBERED = frozenset({"sockets", "cores"})      # objects keyed by socket and core numbers


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str", list: "list", dict: "dict"}[type(value)]


@dataclass
class Shape:
    """What the captures show at one path."""
    kinds: set[str] = field(default_factory=set)
    keys_seen: set[str] = field(default_factory=set)        # in any object there
    keys_always: set[str] | None = None                      # in every object there
    order: list[str] = field(default_factory=list)           # keys in the order Slurm writes them


def _child(path: str, key: str, parent: str) -> str:
    return f"{path}.{'*' if parent.rsplit('.', 1)[-1] in NUMBERED else key}".lstrip(".")


def learn(docs: Iterable[Any]) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}

    def walk(value: Any, path: str) -> None:
        shape = shapes.setdefault(path, Shape())
        shape.kinds.add(kind(value))
        if isinstance(value, dict):
            shape.keys_seen |= set(value)
            shape.keys_always = set(value) if shape.keys_always is None else shape.keys_always & set(value)
            for i, key in enumerate(value):      # a key some objects lack goes after its predecessor
                if key not in shape.order:
                    before = list(value)[i - 1] if i else None
                    shape.order.insert(shape.order.index(before) + 1 if before in shape.order else 0, key)
            for key, item in value.items():
                walk(item, _child(path, key, path))
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")

    for doc in docs:
        walk(doc, "")
    return shapes


def mismatches(value: Any, shapes: dict[str, Shape], path: str = "") -> Iterator[str]:
    """Where `value` has a key, a key order or a type the captures never show there."""
    shape = shapes.get(path)
    if shape is None:
        yield f"{path}: never seen in Slurm's output"
        return
    if kind(value) not in shape.kinds:
        yield f"{path}: {kind(value)}, Slurm: {'/'.join(sorted(shape.kinds))}"
        return
    if isinstance(value, dict):
        if path.rsplit(".", 1)[-1] not in NUMBERED:
            keys = set(value)
            if keys - shape.keys_seen:
                yield f"{path}: keys Slurm does not have: {sorted(keys - shape.keys_seen)}"
            if (shape.keys_always or set()) - keys:
                yield f"{path}: missing keys: {sorted((shape.keys_always or set()) - keys)}"
            ranks = [shape.order.index(k) for k in value if k in shape.order]
            if ranks != sorted(ranks):
                yield f"{path}: keys out of Slurm's order"
        for key, item in value.items():
            yield from mismatches(item, shapes, _child(path, key, path))
    elif isinstance(value, list):
        for item in value:
            yield from mismatches(item, shapes, f"{path}[]")


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every scalar, and of every list or numbered object as a whole."""
    if isinstance(value, dict) and path.rsplit(".", 1)[-1] not in NUMBERED:
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}".lstrip("."))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value) and path.endswith("steps"):
        for item in value:
            step = item.get("step", {}).get("id")
            yield from leaves(item, f"{path}[{step}]")
    else:
        yield path, value


def captured_document(name: str) -> Any:
    """The JSON a capture of captured/slurm_anchor/ printed."""
    case = captures.read("slurm_anchor", name)[0]
    return json.loads(case.stdout)
