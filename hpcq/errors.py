"""The one exception the SDK raises, whatever the transport."""
from __future__ import annotations


class HpcqError(Exception):
    """A call to ctld failed.

    `code` is the gRPC status name (``"NOT_FOUND"``, ``"INVALID_ARGUMENT"``,
    ``"UNAVAILABLE"``...), `message` the server's explanation.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConfigError(Exception):
    """A config file is missing, unreadable, or holds a wrong key or value."""
