"""One logging setup for every daemon: readable lines by default, JSON lines on request."""
from __future__ import annotations

import json
import argparse
import logging
import logging.handlers
import sys
import time


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


def setup(level: str = "info", fmt: str = "text", stream=None, file: str | None = None) -> None:  # noqa: ANN001
    """Log to a stream (stderr), or to a size-rotated file so a long-lived daemon's log
    stays bounded."""
    if file:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
