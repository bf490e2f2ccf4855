"""Slurm host list expressions: ``node[01-03,07],login1`` <-> a list of names."""
from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


class HostlistError(ValueError):
    pass


def expand(expression: str) -> list[str]:
    """Every host name an expression names, in order. Raises HostlistError naming the bad part."""
    names: list[str] = []
    for item in _split_top_level(expression):
        if not item:
            continue
        m = re.fullmatch(r"([^\[\]]*)\[([^\[\]]+)\]([^\[\]]*)", item)
        if not m:
            if "[" in item or "]" in item:
                raise HostlistError(f"invalid host list {item!r}: unbalanced brackets")
            names.append(item)
            continue
        prefix, ranges, suffix = m.groups()
        for part in ranges.split(","):
            lo, sep, hi = part.partition("-")
            if not lo.isdigit() or (sep and not hi.isdigit()):
                raise HostlistError(f"invalid host list {item!r}: bad range {part!r}")
            width = len(lo)
            start, stop = int(lo), int(hi) if sep else int(lo)
            if stop < start:
                raise HostlistError(f"invalid host list {item!r}: range {part!r} runs backwards")
            if stop - start > 1_000_000:
                raise HostlistError(f"invalid host list {item!r}: range {part!r} is too large")
            names.extend(f"{prefix}{i:0{width}d}{suffix}" for i in range(start, stop + 1))
    return names


def _split_top_level(expression: str) -> list[str]:
    items, depth, current = [], 0, []
    for ch in expression:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return items


def compress(names: Iterable[str]) -> str:
    """The shortest usual expression for these names: runs of numbered names with one
    prefix and digit width become ``prefix[a-b,c]``; first-seen order of prefixes is kept."""
    groups: dict[tuple[str, int], list[int]] = {}
    order: list[tuple[str, int] | str] = []
    for name in names:
        m = _NUMBERED.match(name)
        if not m:
            if name not in order:
                order.append(name)
            continue
        prefix, digits = m.groups()
        width = len(digits) if digits.startswith("0") else 0
        key = (prefix, width)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(digits))
    parts = []
    for key in order:
        if isinstance(key, str):
            parts.append(key)
            continue
        prefix, width = key
        numbers = sorted(set(groups[key]))
        if len(numbers) == 1:
            parts.append(f"{prefix}{numbers[0]:0{width}d}")
            continue
        ranges = []
        start = prev = numbers[0]
        for n in numbers[1:] + [None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            ranges.append(f"{start:0{width}d}" if start == prev else f"{start:0{width}d}-{prev:0{width}d}")
            if n is not None:
                start = prev = n
        parts.append(f"{prefix}[{','.join(ranges)}]")
    return ",".join(parts)
