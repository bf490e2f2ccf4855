"""Short garbage-collector pauses for a daemon that answers calls.

A full collection scans every object the collector tracks, and stops the event loop
meanwhile. ctld holds a protobuf wrapper or more for every job it keeps, and under a
polling storm allocates fast enough to run a full collection every second or two: measured
here, 24 of them in 25 s, each 10-75 ms, which is where a submit's slowest answers came
from. Objects that outlived a full collection are long-lived; frozen (gc.freeze), they are
left out of the next ones, which then scan only what is new.

A frozen object that later becomes part of a reference cycle is not collected while it is
frozen (objects freed by their reference count, most of them, go as usual). So every
THAW_SECONDS everything is thawed, and the next full collection reclaims such cycles,
paying one long pause for it."""
from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

THAW_SECONDS = 600.0


class LongLivedFrozen:
    """Installed on the running loop: after each full collection, what survived it is frozen."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thaw_seconds: float = THAW_SECONDS) -> None:
        self.loop = loop
        self.thaw_seconds = thaw_seconds
        self.thawed_at = time.monotonic()
        self.freezes = 0
        gc.callbacks.append(self._on_collection)

    def close(self) -> None:
        if self._on_collection in gc.callbacks:
            gc.callbacks.remove(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # A collection may run on any thread: the freeze goes to the loop's.
        if phase == "stop" and info["generation"] == 2 and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        if time.monotonic() - self.thawed_at >= self.thaw_seconds:
            gc.unfreeze()   # the next full collection sees everything again
            self.thawed_at = time.monotonic()
            return
        gc.freeze()
        self.freezes += 1
