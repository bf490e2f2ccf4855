"""Small values both dialects parse and print: unsigned numbers within a field's range,
signals, comma lists, index ranges.

signal (a few ms of start-up) is imported only when a signal is named."""
from __future__ import annotations

from collections.abc import Iterable

TYPE_CHECKING = False   # typing and re are not imported at run time: see hpcq/protolite.py
if TYPE_CHECKING:
    from re import Match, Pattern

UINT32_MAX = 2**32 - 1     # the largest count a JobSpec field holds
UINT64_MAX = 2**64 - 1
INT32_MAX = 2**31 - 1
# The widest column a -o/--format may ask for: Slurm reads widths into an int; a wider one
# here would only build a cell of that many characters.
MAX_FIELD_WIDTH = 4096


def is_digits(text: str) -> bool:
    """ASCII decimal digits only: str.isdigit() takes '²' (which int() refuses) and
    '１' (which int() takes), neither of which a scheduler option means."""
    return text.isascii() and text.isdigit()


def parse_uint(text: str, maximum: int = UINT32_MAX) -> int | None:
    """The value of an unsigned decimal of ASCII digits, or None when the text is not
    one or the value is beyond `maximum` (the field it goes to could not hold it)."""
    if not is_digits(text) or len(text) > 30:
        return None
    number = int(text)
    return number if number <= maximum else None


def parse_signal(value: str) -> int:
    """A signal by number or name, with or without SIG: ``9``, ``KILL``, ``SIGUSR1``."""
    import signal as _signal

    text = value.strip().upper()
    if text.isdigit():             # any digits: '²' is a bad number, not a bad name
        number = parse_uint(text)
        if number is not None and 0 < number < _signal.NSIG:
            return number
        raise ValueError(f"invalid signal {value!r}")
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(_signal.Signals[name])
    except KeyError:
        raise ValueError(f"invalid signal {value!r}") from None


def split_list(value: str | None) -> list[str]:
    """The items of a comma-separated option value, empty ones dropped."""
    return [item for item in (value or "").split(",") if item]


def compress_indices(indices: Iterable[int]) -> str:
    """``1-3,7,9-10`` for array indices."""
    numbers = sorted(set(indices))
    parts: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
        i = j + 1
    return ",".join(parts)


def percent_pieces(text: str, piece: Pattern[str]) -> tuple[str, list[tuple[Match[str], str]]]:
    """As squeue and sinfo split a -o format: the text before the first ``%``, then each
    non-empty piece between two ``%`` (so ``%%`` is nothing), matched by `piece` (which
    must match any text, if only emptily), with the piece itself."""
    prefix, percent, rest = text.partition("%")
    if not percent:
        return text, []
    found = []
    for token in rest.split("%"):
        if token:
            m = piece.match(token)
            assert m is not None
            found.append((m, token))
    return prefix, found

