"""UsageBook: fair-share shares and the decayed usage jobs were charged, and their rows."""
from __future__ import annotations

import json
from collections.abc import Mapping

from hpcq.api import jobs_pb2
from hpcq.config import CtldSection
from hpcq.ctld import scheduler
from hpcq.ctld.errors import InvalidArgument
from hpcq.ctld.store.writer import Put


class UsageBook:
    def __init__(self, settings: CtldSection) -> None:
        self.settings = settings
        self.usage = scheduler.Usage(half_life=settings.fairshare_half_life, gpu_weight=settings.fairshare_gpu_weight)
        self.shares = scheduler.Shares()
        self.dirty = False       # charged since the usage was last written

    def load(self, meta: Mapping[str, str]) -> None:
        if "shares" in meta:
            raw = json.loads(meta["shares"])
            self.shares = scheduler.Shares(accounts=raw["accounts"], users=raw["users"])
        if "usage" in meta:
            self.usage = scheduler.Usage.from_dict(json.loads(meta["usage"]),
                                                   half_life=self.settings.fairshare_half_life,
                                                   gpu_weight=self.settings.fairshare_gpu_weight)

    def charge(self, job: jobs_pb2.Job, end: float) -> None:
        """A run of `job` ended at `end`: its CPU- and GPU-seconds count against its user and account."""
        elapsed = max(0.0, end - job.start_time)
        cpus = sum(s.cpus for s in job.allocation.slices)
        gpus = sum(s.gpus for s in job.allocation.slices)
        self.usage = self.usage.charge(job.user, job.spec.account, cpus * elapsed, gpus * elapsed, now=end)
        self.dirty = True

    def usage_row(self) -> Put | None:
        """The usage to write, if it changed since the last time; None if not."""
        if not self.dirty:
            return None
        self.dirty = False
        return Put("meta", {"key": "usage", "value": json.dumps(self.usage.to_dict())})

    def share_set(self, account: str, user: str, shares: int) -> tuple[scheduler.Shares, Put]:
        """The shares with one more setting, and the row that stores them (applied by the caller)."""
        if not account:
            raise InvalidArgument("BAD_SHARE", "share.account: empty")
        accounts = dict(self.shares.accounts)
        users = {a: dict(u) for a, u in self.shares.users.items()}
        if user:
            users.setdefault(account, {})[user] = shares
        else:
            accounts[account] = shares
        row = Put("meta", {"key": "shares", "value": json.dumps({"accounts": accounts, "users": users})})
        return scheduler.Shares(accounts=accounts, users=users), row

    def share_rows(self, now: float) -> list[tuple[str, str, int, float]]:
        """(account, user, shares, decayed usage) of every configured share."""
        rows = [(a, "", n, self.usage.of_account(a, now)) for a, n in sorted(self.shares.accounts.items())]
        rows += [(a, u, n, self.usage.of_user(u, now)) for a, us in sorted(self.shares.users.items())
                 for u, n in sorted(us.items())]
        return rows

    def usage_now(self, now: float) -> tuple[dict[str, float], dict[str, float]]:
        """The decayed usage of every user and of every account, as of `now`."""
        current = self.usage.decay(now)
        return dict(current.users), dict(current.accounts)
