"""The audit log: who did what, one JSON object per line, only ever appended to.

Each line is an event ("submit", "cancel", "refused", …) with the time (ISO-8601,
UTC), the principal and role from the caller's certificate, the host agent that
vouched for it (if any), and the event's own fields (job ids, method, outcome,
refusal reason). Readers use ``jq`` or any JSON-lines tool.

The file is opened O_APPEND and every event is one write(2) of a whole line, so
lines of two writers (a restarted ctld overlapping the old one) never interleave, and
an event is in the file (the kernel's page cache) when `record` returns. It is not
fsync'ed: an audit trail that halved the submit rate would be turned off.
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpcq import private_files

__all__ = ["AuditLog"]

log = logging.getLogger("hpcq.ctld.audit")

_RESERVED = frozenset({"time", "event", "principal", "role", "via_host"})


class AuditLog:
    """An append-only JSON-lines file (mode 0600) of security-relevant events."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.failures = 0
        """Events that could not be written (disk full…); each is logged as an error."""
        self._lock = threading.Lock()
        # Rotations (audit.log.1, audit.log-20250101.gz…) name the same people: checked on start too.
        for rotated in sorted(self.path.parent.glob(f"{glob.escape(self.path.name)}?*")):
            private_files.narrow(rotated)
        self._fd = self._open()

    def _open(self) -> int:
        # The log names who did what to whose jobs: a file found open to others (left so
        # by an earlier run, or made by logrotate) is narrowed, and said so.
        private_files.narrow(self.path)
        return private_files.open_file(self.path, os.O_WRONLY | os.O_APPEND)

    def record(self, event: str, caller_name: str, role: str, via_host: str = "", **fields: Any) -> None:
        """Append one event. `fields` must not reuse the names of the standard keys.

        A failed write is logged and counted, never raised: the action it describes
        has already happened, and failing the RPC now would not undo it.
        """
        clash = _RESERVED.intersection(fields)
        if clash:
            raise ValueError(f"audit fields {sorted(clash)} would hide the standard keys")
        entry = {"time": _now(), "event": event, "principal": caller_name, "role": role,
                 "via_host": via_host, **fields}
        # ensure_ascii: a name with U+2028 or similar must not look like two lines to
        # a reader that splits on every Unicode line break.
        line = (json.dumps(entry, default=_jsonable, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                if self._fd < 0:
                    raise OSError("audit log is closed")
                _write_all(self._fd, line)
            except OSError as e:
                self.failures += 1
                log.error("audit log %s: cannot record %s by %s: %s", self.path, event, caller_name, e)

    def reopen(self) -> None:
        """Open the path again (after logrotate moved the file away). If it cannot be
        opened (or is open to others and cannot be narrowed), the error is logged and
        events keep going to the file already open."""
        try:
            fd = self._open()
        except (OSError, private_files.PrivateFileError) as e:
            log.error("audit log %s: cannot reopen it; still writing to the file open before: %s", self.path, e)
            return
        with self._lock:
            old, self._fd = self._fd, fd
        if old >= 0:
            os.close(old)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """Protobuf repeated fields, sets and the like as lists; anything else as its str."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, Iterable) and not isinstance(value, str):
        return list(value)
    return str(value)


def _write_all(fd: int, data: bytes) -> None:
    # A regular file takes the whole line in one write; the loop is for the
    # exotic (a FIFO, a full-then-freed disk) where it does not.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
