"""One logging setup for every daemon: readable lines by default, JSON lines on request."""
from __future__ import annotations

import argparse
import io
import json
import logging
import logging.handlers
import os
import sys
import time
from typing import TextIO

from hpcq import private_files

EVENT_FIELDS = ("job_id", "user", "node", "queue")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for name in EVENT_FIELDS:  # given as logging's extra={...}: machine-readable job events
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The logging options every daemon takes."""
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-file", help=f"write here, rotated at {LOG_FILE_BYTES // 2**20} MiB "
                        f"({LOG_FILE_BACKUPS} kept), instead of stderr")


def setup_from(args: argparse.Namespace) -> None:
    setup(args.log_level, args.log_format, file=args.log_file)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files are 0600 whatever the umask: a daemon's log
    names users, jobs and paths. Rotation renames, so the old files keep that mode."""

    def _open(self) -> io.TextIOWrapper:
        fd = private_files.open_file(self.baseFilename, os.O_WRONLY | os.O_APPEND)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

    def files(self) -> list[str]:
        """The log file and its rotations."""
        return [self.baseFilename] + [f"{self.baseFilename}.{i}" for i in range(1, self.backupCount + 1)]


def setup(level: str = "info", fmt: str = "text", stream: TextIO | None = None, file: str | None = None) -> None:
    """Log to a stream (stderr), or to a size-rotated file so a long-lived daemon's log
    stays bounded. A log file or rotation that others may read is narrowed to 0600, and
    the first lines of the log say so."""
    if file:
        # Opened at the first record: by then the existing files are narrowed (below).
        handler: logging.Handler = PrivateRotatingFileHandler(
            file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, delay=True)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if isinstance(handler, PrivateRotatingFileHandler):
        for path in handler.files():
            private_files.narrow(path)
