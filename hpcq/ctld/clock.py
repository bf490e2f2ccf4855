"""The controller's only source of time, so that its handlers can be driven with any `now`."""
from __future__ import annotations

import time


class Clock:
    """Wall time (job times, begin times) and monotonic time (intervals between passes)."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock(Clock):
    """A clock that moves only when told: for tests of the controller's rooms."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
