"""Domain errors; the servicer boundary maps each to its gRPC status.

Messages start with a stable token (``UNKNOWN_QUEUE: ...``) that shims map to the
exact PBS or Slurm wording; the rest is for people.
"""
from __future__ import annotations


class DomainError(Exception):
    status = "INTERNAL"

    def __init__(self, token: str, text: str) -> None:
        super().__init__(f"{token}: {text}")
        self.token = token


class InvalidArgument(DomainError):
    status = "INVALID_ARGUMENT"


class NotFound(DomainError):
    status = "NOT_FOUND"


class PermissionDenied(DomainError):
    status = "PERMISSION_DENIED"


class FailedPrecondition(DomainError):
    status = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    status = "RESOURCE_EXHAUSTED"


class AlreadyExists(DomainError):
    status = "ALREADY_EXISTS"
