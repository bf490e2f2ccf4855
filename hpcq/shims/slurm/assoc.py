"""Slurm associations from hpcq's fair-share data, for sacctmgr and sshare.

hpcq has no accounting database. An association is a (account, user) pair ctld knows
of: a share configured with ``hpcqctl share set``, or the account a job names. Each
account also has an association of its own (user empty), as in Slurm. Shares nobody
configured are ctld's default (``default_shares``).

The fair-share figures follow the scheduler's formula (hpcq/ctld/scheduler/fairshare.py,
Slurm's classic one): shares normalised among the accounts and, inside an account,
among its users; usage as a fraction of all usage; the factor 2^(-effective/normalised).

Both commands print with Slurm's print_fields: a column is a width (negative: left
aligned), a value too long is cut with ``+`` in its last place, each cell is followed
by a space; ``-p`` ends every field with ``|``, ``-P`` puts ``|`` between them.
"""
from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence

from hpcq.api.lite.admin_pb2 import ListSharesResponse
from hpcq.api.lite.jobs_pb2 import Job


class Association(namedtuple("Association", "account user shares configured", defaults=("", 1, False))):
    """An account's own association (user "") or a user's in it; `configured` when its
    shares were set with hpcqctl share set (else they are ctld's default)."""
    __slots__ = ()
    account: str
    user: str
    shares: int
    configured: bool


def associations(reply: ListSharesResponse, jobs: Iterable[Job]) -> list[Association]:
    """The configured shares and the (account, user) pairs of `jobs`, each account
    first and then its users, by name."""
    default = reply.default_shares or 1
    configured = {(s.account, s.user): s.shares for s in reply.shares}
    pairs = set(configured)
    for job in jobs:
        if job.spec.account:
            pairs.add((job.spec.account, job.user))
    pairs |= {(account, "") for account, _ in pairs}
    return [Association(a, u, configured.get((a, u), default), (a, u) in configured) for a, u in sorted(pairs)]


class ShareRow(namedtuple("ShareRow", "assoc depth norm_shares raw_usage norm_usage effective_usage fairshare "
                                      "level_fs")):
    """One line of sshare: an association's shares and usage, normalised. `depth` is 0
    for the tree's root, 1 for an account, 2 for a user in it; `fairshare` is None for
    all but users, as in Slurm's fair-tree output."""
    __slots__ = ()
    assoc: Association
    depth: int
    norm_shares: float
    raw_usage: float
    norm_usage: float
    effective_usage: float
    fairshare: float | None
    level_fs: float


def share_rows(assocs: Sequence[Association], reply: ListSharesResponse) -> list[ShareRow]:
    """The root line, then each account and its users."""
    users_of: dict[str, list[Association]] = {}
    accounts = [a for a in assocs if not a.user]
    for a in assocs:
        if a.user:
            users_of.setdefault(a.account, []).append(a)
    account_total = sum(max(0, a.shares) for a in accounts) or 1
    total = sum(reply.account_usage.values())
    rows = [ShareRow(Association("root"), 0, 0.0, total, 1.0 if total else 0.0, 1.0 if total else 0.0, None,
                     math.inf)]
    for account in accounts:
        used = reply.account_usage.get(account.account, 0.0)
        norm = max(0, account.shares) / account_total
        fraction = used / total if total else 0.0
        rows.append(ShareRow(account, 1, norm, used, fraction, fraction, None, _ratio(norm, fraction)))
        members = users_of.get(account.account, [])
        inside_total = sum(max(0, u.shares) for u in members) or 1
        for user in members:
            user_fraction = max(0, user.shares) / inside_total
            own_usage = reply.user_usage.get(user.user, 0.0)
            own = own_usage / total if total else 0.0
            effective = own + (fraction - own) * user_fraction
            user_norm = norm * user_fraction
            if not total:
                factor = 1.0
            elif user_norm <= 0.0:
                factor = 0.0
            else:
                factor = 2.0 ** (-max(0.0, effective) / user_norm)
            rows.append(ShareRow(user, 2, user_norm, own_usage, own, effective, factor,
                                 _ratio(user_fraction, own_usage / used if used else 0.0)))
    return rows


def _ratio(shares: float, usage: float) -> float:
    """Fair-tree's LevelFS: shares over usage at one level; infinite without usage."""
    return shares / usage if usage else math.inf


# -- print_fields ------------------------------------------------------------------------

Value = str | int | float | None


class Column(namedtuple("Column", "name width value")):
    """A column: its header, its width (negative: left-aligned) and what it shows of a row."""
    __slots__ = ()
    name: str
    width: int
    value: Callable[[object], Value]


def _double(value: float, width: int) -> str:
    """printf's %f, with fewer decimals when it does not fit the column."""
    text = f"{value:f}"
    decimals = 6
    while len(text) > width and decimals > 0:
        decimals -= 1
        text = f"{value:.{decimals}f}"
    return text


def _text(value: Value, width: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _double(value, width) if width else f"{value:f}"
    return str(value)


def _cell(value: Value, width: int) -> str:
    size = abs(width)
    text = _text(value, size)
    if isinstance(value, str) and len(text) > size:
        text = text[:size - 1] + "+"
    return (text.rjust(size) if width > 0 else text.ljust(size)) + " "


def render(columns: Sequence[Column], rows: Iterable[object], *, header: bool = True, parsable: str = "") -> str:
    """The table: `parsable` is "" (columns), "p" (``|`` after every field) or "P"
    (``|`` between fields)."""
    lines = []
    if parsable:
        end = "|" if parsable == "p" else ""
        if header:
            lines.append("|".join(c.name for c in columns) + end)
        lines += ["|".join(_text(c.value(r), 0) for c in columns) + end for r in rows]
    else:
        if header:
            lines.append("".join(_cell(c.name[:abs(c.width)], c.width) for c in columns))
            lines.append("".join("-" * abs(c.width) + " " for c in columns))
        lines += ["".join(_cell(c.value(r), c.width) for c in columns) for r in rows]
    return "".join(line + "\n" for line in lines)


class FieldDef(namedtuple("FieldDef", "name least header width value")):
    """A field a format list may name: in full (`name`) or by a prefix at least `least`
    long; its header, Slurm's width and what it shows of a row."""
    __slots__ = ()
    name: str
    least: int
    header: str
    width: int
    value: Callable[[object], Value]


class FieldError(ValueError):
    pass


def parse_format(text: str, fields: Sequence[FieldDef], *, prefix_any: bool = False) -> list[Column]:
    """``Account,User%20,fairshare``: each a field's name or a prefix of it (any case),
    with an optional ``%width``. sacctmgr wants a prefix at least `least` long; sshare
    (`prefix_any`) takes the first field whose name starts so."""
    columns = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        word, _, width = item.partition("%")
        lower = word.lower()
        found = next((f for f in fields if f.name.lower().startswith(lower)
                      and (prefix_any or len(lower) >= min(f.least, len(f.name)))), None) if word else None
        if found is None:
            raise FieldError(f'Invalid field requested: "{word}"')
        size = int(width) if width.lstrip("-").isdigit() and int(width) else found.width
        columns.append(Column(found.header, size, found.value))
    return columns
