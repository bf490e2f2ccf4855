"""Slurm host list expressions: ``node[01-03,07],login1`` <-> a list of names."""
from __future__ import annotations

from collections.abc import Iterable

from hpcq.patterns import Pattern

_NUMBERED = Pattern(r"^(.*?)([0-9]+)$")
_RANGE = Pattern(r"([0-9]{1,18})(?:-([0-9]{1,18}))?")
_BRACKETED = Pattern(r"([^\[\]]*)\[([^\[\]]+)\]([^\[\]]*)")

# As Slurm's hostlist.c (MAX_RANGE): an expression names at most this many hosts, so
# that a typo such as node[1-99999999] is an error rather than a minute of work.
MAX_NAMES = 64 * 1024


class HostlistError(ValueError):
    pass


def expand(expression: str) -> list[str]:
    """Every host name an expression names, in order. Raises HostlistError naming the
    expression and its bad part; ranges are ASCII digits; at most MAX_NAMES names."""
    names: list[str] = []
    for item in _split_top_level(expression):
        if not item:
            continue
        where = "" if item == expression else f" in {item!r}"

        def bad(reason: str) -> HostlistError:
            # Called only in this iteration, while `where` is this item's.
            return HostlistError(f"invalid host list {expression!r}: {reason}{where}")  # noqa: B023

        m = _BRACKETED.fullmatch(item)
        if not m:
            if "[" in item or "]" in item:
                raise bad("unbalanced brackets")
            names.append(item)
            continue
        prefix, ranges, suffix = m.groups()
        for part in ranges.split(","):
            r = _RANGE.fullmatch(part)
            if not r:
                raise bad(f"bad range {part!r}")
            width = len(r[1])
            start, stop = int(r[1]), int(r[2] or r[1])
            if stop < start:
                raise bad(f"range {part!r} runs backwards")
            if len(names) + stop - start + 1 > MAX_NAMES:
                raise bad(f"more than {MAX_NAMES} names")
            names.extend(f"{prefix}{i:0{width}d}{suffix}" for i in range(start, stop + 1))
    if len(names) > MAX_NAMES:
        raise HostlistError(f"invalid host list {expression!r}: more than {MAX_NAMES} names")
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
