"""The time commands work against: elapsed times, "now" headers, relative dates."""
from __future__ import annotations

import time


def now() -> float:
    """The current time; one place for tests to set it."""
    return time.time()
