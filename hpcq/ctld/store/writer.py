"""The store: one writer thread that owns the database connection and groups commits.

Every change ctld makes is a `Put` or `Delete` of a row. Callers on the event loop
`await store.write(changes)`; the writer drains whatever has queued up meanwhile,
writes it all with executemany in one transaction, commits once and then wakes every
waiter. Under load that turns hundreds of submits into one commit; idle, a write
costs one commit. A later Put of the same row in one batch replaces the earlier one.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.schema import Table
from sqlmodel import SQLModel, col

from hpcq import daemon, private_files, store_url
from hpcq.ctld.store import lease, migrations
from hpcq.ctld.store.models import (
    SCHEMA_VERSION,
    ArchivedJobRow,
    JobRow,
    MetaRow,
    NodeRow,
    QueueRow,
    SubmitKeyRow,
)

log = logging.getLogger("hpcq.ctld.store")

TABLES = {"jobs": JobRow, "jobs_archive": ArchivedJobRow, "nodes": NodeRow, "queues": QueueRow, "meta": MetaRow,
          "submit_keys": SubmitKeyRow}
# An upsert statement: both dialects' INSERT ... ON CONFLICT DO UPDATE.
Upsert = sqlite.Insert | postgresql.Insert


def _table(name: str) -> Table:
    """The table of TABLES[name] (SQLModel declares no type for a model's __table__)."""
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True)
class Put:
    table: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    table: str
    key: Any


@dataclass
class _Batch:
    changes: Sequence[Put | Delete]
    done: concurrent.futures.Future[None]   # settled by the writer thread


@dataclass
class Loaded:
    jobs: list[bytes] = field(default_factory=list)
    nodes: list[bytes] = field(default_factory=list)
    queues: list[bytes] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    submit_keys: list[tuple[str, str]] = field(default_factory=list)   # (id, job_ids) rows


class StoreError(Exception):
    pass


class StoreUnavailable(StoreError, daemon.CannotStart):
    """The store cannot be opened: ctld does not start. The message shows the URL
    without its password."""


def database_url(url: str, state_dir: Path) -> str:
    return url or f"sqlite:///{state_dir / 'hpcq.db'}"


def make_engine(url: str, connect_args: dict[str, Any] | None = None) -> Engine:
    """The engine for `url`. A SQLite database file and its -wal, -shm and -journal
    files are the owner's alone (0600), whatever the umask."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_files(path)
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            # WAL + NORMAL: a commit survives a process crash (what kill -9 tests); only
            # an OS crash can lose the last transactions, as with Slurm's state files.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args or {})


def _private_sqlite_files(path: str) -> None:
    """SQLite makes its -wal, -shm and -journal files with the database file's mode: so
    the database file is made 0600 before SQLite first opens it, and any of them that an
    earlier run left open to others is narrowed (and said)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        private_files.narrow(path + suffix)
    os.close(private_files.open_file(path, os.O_RDONLY))


class Store:
    def __init__(self, url: str, *, max_batch: int = 2000, connect_args: dict[str, Any] | None = None) -> None:
        self.url = store_url.shown(url)
        """The URL to show: its password, if any, hidden."""
        try:
            self.engine = make_engine(url, connect_args)
        except (OSError, ValueError, SQLAlchemyError) as e:  # a malformed URL, no such driver
            raise StoreUnavailable(f"{self.url}: {store_url.scrub(str(e), url)}") from None
        self._secret_url = url
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread: threading.Thread | None = None
        self.commits = 0
        self.last_commit_seconds = 0.0
        self.last_batch_size = 0
        self.on_commit: Callable[[float, int], None] | None = None  # (seconds, changes), on the writer thread
        # Called first in every write transaction (on the writer thread); raises to abort it:
        # a standby controller's takeover fences the old active's writes (leadership.py).
        self.fence: Callable[[Connection], None] | None = None
        self._upserts: dict[str, Upsert] = {}
        # The writer's own connection, kept across commits: a checkout and return of a
        # pooled one costs about as much as committing a few rows.
        self._conn: Connection | None = None

    def open(self) -> Loaded:
        """Create or migrate the schema and read everything back (called before serving).
        Raises StoreUnavailable if the database cannot be reached or read."""
        try:
            return self._open()
        except SQLAlchemyError as e:
            # One line (the driver's first), never the URL's password: this is what the admin reads.
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            raise StoreUnavailable(f"{self.url}: {store_url.scrub(reason, self._secret_url)}") from None

    def _open(self) -> Loaded:
        with self.engine.begin() as conn:
            version = migrations.stored_version(conn)
            if version is not None and version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"{self.url}: schema version {version} is newer than this hpcq ({SCHEMA_VERSION})")
            if version is not None and version < SCHEMA_VERSION:
                applied = migrations.migrate(conn, version, SCHEMA_VERSION)
                migrations.record_version(conn, SCHEMA_VERSION)  # in the same transaction
                log.info("store migrated from schema %d through %s", version, applied)
        SQLModel.metadata.create_all(self.engine, tables=[_table(name) for name in TABLES])
        loaded = Loaded()
        with self.engine.connect() as conn:
            loaded.meta = {k: v for k, v in conn.execute(select(col(MetaRow.key), col(MetaRow.value)))}
            loaded.jobs = [r for (r,) in conn.execute(select(col(JobRow.record)).order_by(col(JobRow.id)))]
            loaded.nodes = [r for (r,) in conn.execute(select(col(NodeRow.record)))]
            loaded.queues = [r for (r,) in conn.execute(select(col(QueueRow.record)))]
            loaded.submit_keys = [(k, ids) for k, ids in conn.execute(select(col(SubmitKeyRow.id),
                                                                              col(SubmitKeyRow.job_ids)))]
        if loaded.meta.get("schema_version") != str(SCHEMA_VERSION):
            self._apply([Put("meta", {"key": "schema_version", "value": str(SCHEMA_VERSION)})])
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()
        return loaded

    async def write(self, changes: Sequence[Put | Delete]) -> None:
        """Return once these changes are committed."""
        if changes:
            await asyncio.wrap_future(self.enqueue(changes))

    def enqueue(self, changes: Sequence[Put | Delete]) -> concurrent.futures.Future[None]:
        """Queue these changes now, behind every write queued before them, awaited or not
        (so a later write of the same row is never overtaken by an earlier one); the
        future is done once they are committed."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        if changes:
            self._queue.put(_Batch(changes, done))
        else:
            done.set_result(None)
        return done

    def close(self) -> None:
        """Flush what is queued and stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batches = [first]
            size = len(first.changes)
            while size < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batches.append(more)
                size += len(more.changes)
            # Running from now on: a waiter cancelled from here on can no longer cancel its
            # future, which the writer settles (the changes of a cancelled one are written all the same).
            waiting = [b.done for b in batches if b.done.set_running_or_notify_cancel()]
            error: BaseException | None = None
            started = time.perf_counter()
            try:
                self._apply([c for b in batches for c in b.changes])
            except lease.Fenced as e:   # another controller has taken over: expected, one line
                log.error("store commit refused: %s", e)
                error = StoreError(f"store commit refused: {e}")
            except Exception as e:  # the waiters get the error; the writer keeps serving
                log.exception("store commit failed")
                error = StoreError(f"store commit failed: {e}")
            self.commits += 1
            self.last_commit_seconds = time.perf_counter() - started
            self.last_batch_size = size
            if self.on_commit is not None:
                self.on_commit(self.last_commit_seconds, size)
            for done in waiting:
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    def _apply(self, changes: list[Put | Delete]) -> None:
        # The last change of a row in a batch wins: None marks a delete.
        latest: dict[str, dict[Any, dict[str, Any] | None]] = {}
        for change in changes:
            rows = latest.setdefault(change.table, {})
            if isinstance(change, Put):
                rows[change.row[_key_column(change.table)]] = change.row
            else:
                rows[change.key] = None
        if self._conn is None:
            self._conn = self.engine.connect()
        conn = self._conn
        try:
            self._write(conn, latest)
        except Exception:
            self._conn = None  # it may be broken (a database restart): the next batch takes another
            with contextlib.suppress(Exception):
                conn.close()
            raise

    def _write(self, conn: Connection, latest: dict[str, dict[Any, dict[str, Any] | None]]) -> None:
        with conn.begin():
            if self.fence is not None:
                self.fence(conn)
            for table_name, rows in latest.items():
                table, key = _table(table_name), _key_column(table_name)
                puts = [row for row in rows.values() if row is not None]
                if puts:
                    conn.execute(self._upsert_statement(conn.dialect.name, table_name), puts)
                gone = [k for k, row in rows.items() if row is None]
                if gone:
                    conn.execute(delete(table).where(table.c[key].in_(gone)))


    def _upsert_statement(self, dialect: str, table_name: str) -> Upsert:
        """INSERT ... ON CONFLICT DO UPDATE of every column, built once per table."""
        statement = self._upserts.get(table_name)
        if statement is None:
            makers: dict[str, Callable[[Table], Upsert]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
            insert = makers.get(dialect)
            if insert is None:
                raise StoreError(f"unsupported database dialect {dialect!r} (use sqlite or postgresql)")
            table, key = _table(table_name), _key_column(table_name)
            statement = insert(table)
            statement = statement.on_conflict_do_update(
                index_elements=[key], set_={c.name: statement.excluded[c.name] for c in table.columns if c.name != key})
            self._upserts[table_name] = statement
        return statement


def _key_column(table: str) -> str:
    return {"jobs": "id", "jobs_archive": "id", "nodes": "name", "queues": "name", "meta": "key",
            "submit_keys": "id"}[table]
