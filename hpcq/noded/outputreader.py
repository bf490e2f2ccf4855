"""A running job's output, read for ctld (ReadOutput in, OutputData out): sattach and
`hpcqctl tail` follow a job through the API, with no file system shared with the node.

The supervisor records the paths it opened for the job's stdout and stderr, and the
job's uid and gid, in the attempt's supervisor.json (hpcq/noded/jobd.py); this module
reads from there, a bounded chunk at a time from the offset ctld asks for.

noded runs as root, and the file is at a path the job's user chose and may swap for a
symlink or a device at any moment. So the file is opened with the user's own file-system
identity (setfsuid/setfsgid: they change the calling thread alone, and while they are
not 0 the kernel drops root's file capabilities), never through a final symlink and
without blocking; then it must be a regular file the user owns. Every read runs on one
thread of its own, which also keeps a slow file system off noded's event loop.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hpcq.api import nodes_pb2
from hpcq.noded import spool

# The most one answer carries, whatever ctld asks: a follower holds one answer at a time.
MAX_BYTES = 256 * 1024
# No file reaches past this (off_t is signed), and os.pread cannot be asked for more.
MAX_OFFSET = 2**63 - 1
# Attempts whose supervisor record is kept after noded let them go: a follower reads the
# job's last lines after its end, by which time ctld may have had the spool removed.
KEPT_RECORDS = 1024

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class OutputReader:
    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpcq-output")
        self._records: dict[tuple[int, int], dict[str, Any]] = {}   # only its thread touches it

    async def read(self, request: nodes_pb2.ReadOutput) -> nodes_pb2.OutputData:
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, read_output, self.spool_dir, request, self._records)

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)


def read_output(spool_dir: Path, request: nodes_pb2.ReadOutput,
                kept: dict[tuple[int, int], dict[str, Any]] | None = None) -> nodes_pb2.OutputData:
    """What the attempt's file holds from request.offset (at most MAX_BYTES); `ended` once
    the attempt runs no more, which is checked before the read: an ended job writes
    nothing after, so an answer shorter than asked with `ended` set is the file's end.
    `kept`: the records of attempts read before, which outlast the spool's (KEPT_RECORDS)."""
    reply = nodes_pb2.OutputData(request_id=request.request_id, offset=request.offset)
    directory = spool.attempt_dir(spool_dir, request.job_id, request.attempt)
    key = (request.job_id, request.attempt)
    reply.ended = os.path.exists(directory.status)
    record = spool.read_json(directory.supervisor)
    if record is None:
        if not os.path.isdir(directory.path):
            reply.ended = True
            record = (kept or {}).get(key)
            if record is None:
                reply.error = "the job does not run on this node"
                return reply
        else:
            return reply      # not started yet: nothing written
    elif kept is not None and record.get("output"):
        kept.pop(key, None)
        if len(kept) >= KEPT_RECORDS:
            del kept[next(iter(kept))]   # the oldest
        kept[key] = record
    paths = record.get("output")
    if not paths:
        if reply.ended:
            reply.error = "the job ended before its output file was opened"
        return reply
    stdout, stderr = paths
    path = (stderr or stdout) if request.stderr else stdout   # no stderr file: stderr went to stdout's
    if request.offset > MAX_OFFSET:
        reply.error = f"{path}: offset {request.offset} is beyond the end of any file"
        return reply
    try:
        reply.data = _read(path, record.get("uid", os.geteuid()), record.get("gid", os.getegid()), request.offset,
                           min(request.max_bytes or MAX_BYTES, MAX_BYTES))
    except OSError as e:
        reply.error = f"{path}: {e.strerror or e}"
    return reply


def _read(path: str, uid: int, gid: int, offset: int, size: int) -> bytes:
    fd = _open_as(path, uid, gid)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != uid:
            raise OSError(0, "not a regular file of the job's user")
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def _open_as(path: str, uid: int, gid: int) -> int:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if os.geteuid() != 0:
        return os.open(path, flags)
    _set_fs_ids(uid, gid)
    try:
        return os.open(path, flags)
    finally:
        _set_fs_ids(0, 0)


def _set_fs_ids(uid: int, gid: int) -> None:
    # setfsgid first: once the fsuid is not 0, the thread may no longer change its fsgid.
    # Both return the previous id and cannot report failure; read them back to be sure.
    _libc.setfsgid(gid)
    _libc.setfsuid(uid)
    if _libc.setfsuid(-1) != uid or _libc.setfsgid(-1) != gid:
        raise OSError(0, "cannot take the job user's file-system identity")
