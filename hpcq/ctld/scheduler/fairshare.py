"""Fair-share: decayed usage per user and account, shares, and Slurm's classic factor.

Usage is CPU-seconds plus GPU-seconds times a weight, halved every `half_life`
seconds. Values are stored as of a reference time (`epoch`) and a charge made later
is scaled up by 2**((now - epoch) / half_life) instead of decaying every stored
value: charging is O(1) in the number of users and decay is only a change of
reference, done when the exponent grows large or when asked.

The factor is Slurm's classic `2**(-U/S)`: S is the user's normalized shares
(its account's fraction of all account shares times the user's fraction of the
shares inside that account) and U its effective usage — the user's fraction of all
usage, pulled towards its account's fraction in proportion to the user's share of
the account, so that a heavy account slows all of its users a little.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

DEFAULT_HALF_LIFE = 7 * 86400.0
_REBASE_AFTER = 256.0   # half-lives; 2**256 is far from float overflow


def _frozen(values: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Usage:
    """Decayed usage; a value: every change returns a new Usage."""
    epoch: float = 0.0
    users: Mapping[str, float] = field(default_factory=_frozen)      # usage as of epoch
    accounts: Mapping[str, float] = field(default_factory=_frozen)
    half_life: float = DEFAULT_HALF_LIFE
    gpu_weight: float = 1.0

    def _scale(self, now: float) -> float:
        """Multiply a value stored as of epoch by this to get it as of now."""
        return float(2.0 ** (-(now - self.epoch) / self.half_life))

    def decay(self, now: float) -> Usage:
        """The same usage with values as of now (a new reference time)."""
        k = self._scale(now)
        return replace(self, epoch=now, users=_frozen({u: v * k for u, v in self.users.items()}),
                       accounts=_frozen({a: v * k for a, v in self.accounts.items()}))

    def charge(self, user: str, account: str, cpu_seconds: float, gpu_seconds: float = 0.0, *,
               now: float) -> Usage:
        """Add a job's consumption, counted at `now` (usually its end)."""
        base = self if abs(now - self.epoch) < _REBASE_AFTER * self.half_life else self.decay(now)
        amount = (cpu_seconds + gpu_seconds * base.gpu_weight) / base._scale(now)
        users = dict(base.users)
        users[user] = users.get(user, 0.0) + amount
        accounts = dict(base.accounts)
        accounts[account] = accounts.get(account, 0.0) + amount
        return replace(base, users=MappingProxyType(users), accounts=MappingProxyType(accounts))

    def of_user(self, user: str, now: float) -> float:
        return self.users.get(user, 0.0) * self._scale(now)

    def of_account(self, account: str, now: float) -> float:
        return self.accounts.get(account, 0.0) * self._scale(now)

    def total(self, now: float) -> float:
        return sum(self.accounts.values()) * self._scale(now)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able data; the half-life and GPU weight are configuration, not state."""
        return {"epoch": self.epoch, "users": dict(self.users), "accounts": dict(self.accounts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], *, half_life: float = DEFAULT_HALF_LIFE,
                  gpu_weight: float = 1.0) -> Usage:
        def values(key: str) -> Mapping[str, float]:
            raw = data.get(key) or {}
            if not isinstance(raw, Mapping):
                raise ValueError(f"usage: {key}: expected a mapping of name to number")
            try:
                return _frozen({str(k): float(v) for k, v in raw.items()})
            except (TypeError, ValueError):
                raise ValueError(f"usage: {key}: values must be numbers") from None
        epoch = data.get("epoch", 0.0)
        if not isinstance(epoch, (int, float)):
            raise ValueError("usage: epoch: expected a number")
        if half_life <= 0:
            raise ValueError("usage: half_life: must be positive")
        return cls(float(epoch), values("users"), values("accounts"), half_life, gpu_weight)


@dataclass(frozen=True)
class Shares:
    """Raw shares (Slurm's Fairshare=N) of accounts, and of users inside each account."""
    accounts: Mapping[str, int] = field(default_factory=dict)
    users: Mapping[str, Mapping[str, int]] = field(default_factory=dict)   # account -> user -> shares
    default: int = 1     # for an account or user nobody configured

    def of_account(self, account: str) -> int:
        return self.accounts.get(account, self.default)

    def of_user(self, account: str, user: str) -> int:
        return self.users.get(account, {}).get(user, self.default)


Association = tuple[str, str]   # (user, account)


def fairshare_factors(usage: Usage, shares: Shares, active: Iterable[Association],
                      now: float) -> dict[Association, float]:
    """The factor in [0, 1] of every (user, account) in `active`.

    Shares are normalized among the configured accounts and users plus the active
    ones (the users with jobs in the snapshot): somebody nobody configured competes
    with the default share.
    """
    wanted = set(active)
    members: dict[str, set[str]] = {a: set(us) for a, us in shares.users.items()}
    for account in shares.accounts:
        members.setdefault(account, set())
    for user, account in wanted:
        members.setdefault(account, set()).add(user)
    account_total = sum(max(0, shares.of_account(a)) for a in members) or 1
    inside_total = {a: sum(max(0, shares.of_user(a, u)) for u in us) or 1 for a, us in members.items()}
    total = usage.total(now)
    factors: dict[Association, float] = {}
    for user, account in wanted:
        user_fraction = max(0, shares.of_user(account, user)) / inside_total[account]
        normalized_shares = max(0, shares.of_account(account)) / account_total * user_fraction
        if total <= 0.0:
            factors[(user, account)] = 1.0
            continue
        if normalized_shares <= 0.0:
            factors[(user, account)] = 0.0
            continue
        own = usage.of_user(user, now) / total
        effective = own + (usage.of_account(account, now) / total - own) * user_fraction
        factors[(user, account)] = 2.0 ** (-max(0.0, effective) / normalized_shares)
    return factors
