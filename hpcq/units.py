"""Times and sizes as Slurm and PBS users write them, and as their tools print them.

Parsers take the user's text and return plain numbers (seconds, MiB); they raise
ValueError whose message names the value. Numbers are ASCII digits only (``int()``
would take ``'１'`` and ``\\d`` matches it), and no parser returns more than
MAX_SECONDS seconds or MAX_MIB MiB: what a JobSpec can carry, and far below what
would overflow a float. Formatters are the inverse, in the spellings squeue, sacct
and qstat print.
"""
from __future__ import annotations

import math
import time

from hpcq.patterns import Pattern

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

# The largest duration (a walltime is a uint32 of seconds, ~136 years) and size (a
# uint64 of MiB) a parser returns; longer digit strings are refused before int() sees
# them, so that 5,000 nines cost nothing and never meet int()'s own digit limit.
MAX_SECONDS = 2**32 - 1
MAX_MIB = 2**64 - 1
_MAX_DIGITS = 30


def _number(value: str, digits: str) -> int:
    """int() of an ASCII digit string the caller's pattern matched."""
    if len(digits) > _MAX_DIGITS:
        raise ValueError(f"invalid number {value!r}: too large")
    return int(digits)


def _at_most(value: str, number: int, limit: int, what: str) -> int:
    if number > limit:
        raise ValueError(f"invalid {what} {value!r}: too large")
    return number


# -- Slurm durations ---------------------------------------------------------------

_SLURM_UNLIMITED = frozenset({"UNLIMITED", "INFINITE", "-1"})
_SLURM_TIME = Pattern(r"""(?ax)
    (?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?)   # D-H, D-H:M, D-H:M:S
    | (?P<a>\d+)(?::(?P<b>\d+)(?::(?P<c>\d+))?)?                        # M, M:S, H:M:S
    """)


def parse_slurm_time(value: str) -> int | None:
    """Seconds of a Slurm ``--time`` value; None means no limit (UNLIMITED, INFINITE, -1, 0).

    Slurm keeps limits in whole minutes; seconds are kept here and the formatters
    round them up, so ``-t 90`` is 90 minutes and ``-t 0:30`` is 30 seconds (shown 1:00).
    """
    text = value.strip()
    if text.upper() in _SLURM_UNLIMITED:
        return None
    m = _SLURM_TIME.fullmatch(text)
    if not m:
        raise ValueError(f"invalid time {value!r}: expected M, M:S, H:M:S, D-H, D-H:M, D-H:M:S or UNLIMITED")
    n = {key: _number(value, digits or "0") for key, digits in m.groupdict().items()}
    if m["days"] is not None:
        seconds = n["days"] * 86400 + n["dh"] * 3600 + n["dm"] * 60 + n["ds"]
    elif m["c"] is not None:
        seconds = n["a"] * 3600 + n["b"] * 60 + n["c"]
    elif m["b"] is not None:
        seconds = n["a"] * 60 + n["b"]
    else:
        seconds = n["a"] * 60
    # "A time limit of zero requests that no time limit be imposed" (sbatch(1)).
    return _at_most(value, seconds, MAX_SECONDS, "time") or None


def format_slurm_elapsed(seconds: float) -> str:
    """squeue's TIME / sacct's Elapsed: ``0:00``, ``1:02:03``, ``1-00:00:00``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_slurm_limit(seconds: float | None) -> str:
    """squeue's TIME_LIMIT: whole minutes (rounded up), UNLIMITED for no limit."""
    if seconds is None:
        return "UNLIMITED"
    return format_slurm_elapsed(math.ceil(seconds / 60) * 60)


# -- Slurm timestamps (--begin) ----------------------------------------------------

_UNIT_SECONDS = {"": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
                 "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
                 "h": 3600, "hour": 3600, "hours": 3600,
                 "d": 86400, "day": 86400, "days": 86400,
                 "w": 604800, "week": 604800, "weeks": 604800}


def parse_slurm_timestamp(value: str, now: float) -> float:
    """Unix seconds of a Slurm ``--begin`` value: ``now+60``, ``now+1hour``, ``16:00``,
    ``2026-11-23T13:08``, ``2026-11-23``, ``11/23[/26]``, ``midnight``, ``noon``,
    ``teatime``, ``today``, ``tomorrow``. Local time, as Slurm."""
    import re
    from datetime import datetime, timedelta  # here: they cost every command ~6 ms at start-up

    text = value.strip().lower()
    base = datetime.fromtimestamp(now)
    m = re.fullmatch(r"now(?:\+([0-9]+)([a-z]*))?", text)
    if m:
        if m[1] is None:
            return now
        if m[2] not in _UNIT_SECONDS:
            raise ValueError(f"invalid time {value!r}: unknown unit {m[2]!r}")
        return now + _at_most(value, _number(value, m[1]) * _UNIT_SECONDS[m[2]], MAX_SECONDS, "time")
    today = base.replace(hour=0, minute=0, second=0, microsecond=0)
    named = {"today": today, "midnight": today + timedelta(days=1), "tomorrow": today + timedelta(days=1),
             "noon": today.replace(hour=12), "teatime": today.replace(hour=16), "fika": today.replace(hour=15),
             "elevenses": today.replace(hour=11)}
    if text in named:
        moment = named[text]
        if text in ("noon", "teatime", "fika", "elevenses") and moment < base:
            moment += timedelta(days=1)
        return moment.timestamp()
    m = re.fullmatch(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(am|pm)?", text)
    if m:
        hour = int(m[1])
        if m[4]:
            hour = hour % 12 + (12 if m[4] == "pm" else 0)
        moment = _at(value, base, hour, int(m[2]), int(m[3] or 0))
        if moment < base:
            moment += timedelta(days=1)
        return moment.timestamp()
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:t([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?", text)
    if m:
        return _date(value, int(m[1]), int(m[2]), int(m[3]), m[4], m[5], m[6]).timestamp()
    m = re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})(?:/([0-9]{2}))?", text)
    if m:
        year = 2000 + int(m[3]) if m[3] else base.year
        return _date(value, year, int(m[1]), int(m[2]), None, None, None).timestamp()
    raise ValueError(f"invalid time {value!r}: expected now+N[unit], HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], "
                     "MM/DD[/YY] or midnight/noon/teatime/today/tomorrow")


def _at(value: str, base: datetime, hour: int, minute: int, second: int) -> datetime:
    try:
        return base.replace(hour=hour, minute=minute, second=second, microsecond=0)
    except ValueError:
        raise ValueError(f"invalid time {value!r}: no such time of day") from None


def _date(value: str, year: int, month: int, day: int, hour: str | None, minute: str | None,
          second: str | None) -> datetime:
    from datetime import datetime

    try:
        return datetime(year, month, day, int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise ValueError(f"invalid time {value!r}: no such date") from None


# -- PBS durations -----------------------------------------------------------------

_PBS_TIME = Pattern(r"(?:(?:([0-9]+):)?([0-9]+):)?([0-9]+)(\.[0-9]*)?")


def parse_pbs_time(value: str) -> int:
    """Seconds of a PBS time resource (``walltime``, ``cput``): ``[[H:]M:]S`` or plain
    seconds, the seconds possibly with a fraction (rounded to the nearest second)."""
    m = _PBS_TIME.fullmatch(value.strip())
    if not m:
        raise ValueError(f"invalid time {value!r}: expected [[hours:]minutes:]seconds")
    hours, minutes, seconds = (_number(value, digits or "0") for digits in m.groups()[:3])
    # Round half to even, as round(float) did, without a float that 400 digits overflow.
    fraction = m[4][1:] if m[4] else ""
    if fraction[:1] > "5" or (fraction[:1] == "5" and (fraction[1:].strip("0") or seconds % 2)):
        seconds += 1
    return _at_most(value, hours * 3600 + minutes * 60 + seconds, MAX_SECONDS, "time")


def format_pbs_hms(seconds: float) -> str:
    """``HH:MM:SS`` as qstat prints walltime and cput (hours grow past 99)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def format_pbs_hm(seconds: float) -> str:
    """``HH:MM`` as ``qstat -a`` prints requested and elapsed time."""
    return format_pbs_hms(seconds)[:-3]


# -- sizes -------------------------------------------------------------------------

_MIB = 1024 * 1024
_SLURM_SIZE = Pattern(r"(?i)([0-9]+)([KMGT]?)B?")
_SLURM_SHIFT = {"K": -1, "M": 0, "": 0, "G": 1, "T": 2}
_PBS_SIZE = Pattern(r"(?i)([0-9]+)([kmgtp]?)([bw]?)")
_PBS_SHIFT = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_slurm_size(value: str) -> int:
    """MiB of a Slurm memory value (``--mem``, ``--mem-per-cpu``): a whole number with
    an optional K, M, G or T (and an optional B); no unit means M."""
    m = _SLURM_SIZE.fullmatch(value.strip())
    if not m:
        raise ValueError(f"invalid size {value!r}: expected a whole number with an optional K, M, G or T")
    number, shift = _number(value, m[1]), _SLURM_SHIFT[m[2].upper()]
    mib = -(-number // 1024) if shift < 0 else number * 1024 ** shift
    return _at_most(value, mib, MAX_MIB, "size")


def parse_pbs_size_bytes(value: str) -> int:
    """Bytes of a PBS size (``mem=``): a whole number, an optional k/m/g/t/p and an
    optional b (bytes, the default) or w (8-byte words)."""
    m = _PBS_SIZE.fullmatch(value.strip())
    if not m:
        raise ValueError(f"invalid size {value!r}: expected a whole number with an optional kb, mb, gb or tb")
    word = 8 if m[3].lower() == "w" else 1
    size = _number(value, m[1]) * word * 1024 ** _PBS_SHIFT[m[2].lower()]
    return _at_most(value, size, MAX_MIB * _MIB, "size")


def parse_pbs_size(value: str) -> int:
    """MiB of a PBS size, rounded up."""
    return -(-parse_pbs_size_bytes(value) // _MIB)


def format_pbs_size(mib: int) -> str:
    """A size in MiB as PBS spells it: ``200mb``, ``2gb``, ``1tb``; as qstat, the unit
    grows while the number would need more than four digits."""
    value, unit = int(mib) * 1024, 1   # kb
    while value % 1024 == 0 and value and unit < 4:
        value, unit = value // 1024, unit + 1
    while value > 9999 and unit < 5:
        value, unit = math.ceil(value / 1024), unit + 1
    return f"{value}{' kmgtp'[unit]}b"


def format_slurm_size(mib: int) -> str:
    """A size in MiB as squeue prints MIN_MEMORY: ``100M``, ``2G``."""
    if mib and mib % _MIB == 0:
        return f"{mib // _MIB}T"
    if mib and mib % 1024 == 0:
        return f"{mib // 1024}G"
    return f"{mib}M"


# -- timestamps --------------------------------------------------------------------

def format_ctime(seconds: float) -> str:
    """C's ctime() without the newline, local time: ``Mon Nov 23 12:39:01 2026``, ``Tue Dec  1 ...``."""
    t = time.localtime(seconds)
    return f"{time.strftime('%a %b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S %Y', t)}"


def format_iso(seconds: float) -> str:
    """Slurm's timestamp: ``2026-11-23T13:08:05``, local time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))
