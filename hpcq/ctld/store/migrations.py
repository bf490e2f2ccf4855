"""Schema migrations, applied in order on start: version N's function turns an N-1
database into an N one, inside the transaction that records the new version."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, inspect, text

from hpcq.api import jobs_pb2


def _v2_job_account(conn: Connection) -> None:
    """Jobs get an indexed account column (sacct -A, fair-share reports), filled from the records."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN account VARCHAR NOT NULL DEFAULT ''"))
    conn.execute(text("CREATE INDEX ix_jobs_account ON jobs (account)"))
    rows = [{"id": job_id, "account": jobs_pb2.Job.FromString(record).spec.account}
            for job_id, record in conn.execute(text("SELECT id, record FROM jobs"))]
    rows = [r for r in rows if r["account"]]
    if rows:
        conn.execute(text("UPDATE jobs SET account = :account WHERE id = :id"), rows)


def _v3_submit_keys(conn: Connection) -> None:
    """Submits carry idempotency keys: a table of the keys and the job ids they answered."""
    conn.execute(text("CREATE TABLE submit_keys (id VARCHAR NOT NULL PRIMARY KEY, job_ids VARCHAR NOT NULL)"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _v2_job_account, 3: _v3_submit_keys}


def stored_version(conn: Connection) -> int | None:
    """The version a database was written by; None for an empty database."""
    tables = set(inspect(conn).get_table_names())
    if "jobs" not in tables:
        return None
    if "meta" not in tables:
        return 1
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    return int(row[0]) if row else 1


def migrate(conn: Connection, from_version: int, to_version: int) -> list[int]:
    """Apply every migration after from_version up to to_version; returns those applied."""
    applied = []
    for version in range(from_version + 1, to_version + 1):
        MIGRATIONS[version](conn)
        applied.append(version)
    return applied


def record_version(conn: Connection, version: int) -> None:
    conn.execute(text("DELETE FROM meta WHERE key = 'schema_version'"))
    conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"), {"v": str(version)})
