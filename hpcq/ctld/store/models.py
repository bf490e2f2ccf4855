"""The store's tables.

A job row keeps its whole record as serialized protobuf (the record's shape evolves
with the API, not with migrations) beside the columns that queries filter on.
"""
from __future__ import annotations

from sqlmodel import Column, Field, LargeBinary, SQLModel

SCHEMA_VERSION = 3  # bump with a function in migrations.py


class JobRow(SQLModel, table=True):
    __tablename__ = "jobs"
    id: int = Field(primary_key=True)
    user: str = Field(index=True)
    state: int = Field(index=True)
    queue: str
    name: str
    account: str = Field(default="", index=True)
    submit_time: float
    end_time: float = Field(default=0.0, index=True)
    record: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ArchivedJobRow(SQLModel, table=True):
    """Finished jobs older than history_days: out of ctld's memory, kept for the record."""
    __tablename__ = "jobs_archive"
    id: int = Field(primary_key=True)
    user: str = Field(index=True)
    state: int
    queue: str
    name: str
    account: str = ""
    submit_time: float
    end_time: float = Field(default=0.0, index=True)
    record: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class NodeRow(SQLModel, table=True):
    __tablename__ = "nodes"
    name: str = Field(primary_key=True)
    record: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class QueueRow(SQLModel, table=True):
    __tablename__ = "queues"
    name: str = Field(primary_key=True)
    record: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SubmitKeyRow(SQLModel, table=True):
    """A submit's idempotency key and the ids it answered, kept as long as its jobs are
    (hpcq/ctld/submitkeys.py). `id` is the owner, a space and the key: the key has no
    space, so two owners' keys never meet."""
    __tablename__ = "submit_keys"
    id: str = Field(primary_key=True)
    job_ids: str    # comma-separated, in the order the submit answered them


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str
