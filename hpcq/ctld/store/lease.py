"""The controller lease in PostgreSQL: which hpcq-ctld of several is the active one.

One row of `controller_lease` names the active controller (`holder`), its epoch (one
more at every takeover) and when its lease ends by the DATABASE's clock (`expires_at`),
so that no two hosts' clocks are compared. The active renews it every second; a standby
takes it only once it has expired, after terminating every database session of the old
holder (each controller's sessions carry its holder name as application_name), so that
no transaction of the old holder is still open when the epoch moves on. Every write
transaction of the store checks the row first (`check`, FOR SHARE: a takeover's FOR
UPDATE waits for it): a write of a controller whose lease is no longer current aborts.
`controllers` keeps a row per running controller, active or standby, for
`hpcqctl status`.

These tables are created here, before the versioned schema (migrations.py): they decide
which controller may migrate it, so they must exist before any controller is active.
PostgreSQL only: SQLite keeps a single controller.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

# Any constant: serialises the CREATE TABLEs of controllers starting at the same time.
_DDL_LOCK = 0x68706371  # "hpcq"

_DDL = (
    """CREATE TABLE IF NOT EXISTS controller_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        epoch BIGINT NOT NULL,
        holder VARCHAR NOT NULL,
        address VARCHAR NOT NULL,
        since DOUBLE PRECISION NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        last_takeover DOUBLE PRECISION NOT NULL DEFAULT 0,
        previous_address VARCHAR NOT NULL DEFAULT '',
        process VARCHAR NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS controllers (
        holder VARCHAR PRIMARY KEY,
        address VARCHAR NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        seen_at TIMESTAMPTZ NOT NULL)""",
)

_NOW = "extract(epoch from statement_timestamp())"


class Fenced(Exception):
    """This controller's lease is not the current one: it must not write."""


@dataclass(frozen=True)
class LeaseRow:
    epoch: int
    holder: str
    address: str
    since: float            # when the holder took it (database clock, Unix seconds)
    expired: bool           # by the database's clock, at the time of reading
    last_takeover: float    # when a controller last took it from another; 0: never
    previous_address: str   # the controller it was taken from
    process: str            # the holder's process, as leadership.process_identity() names it


@dataclass(frozen=True)
class ControllerRow:
    holder: str
    address: str
    started: float


def ensure_tables(conn: Connection) -> None:
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DDL_LOCK})
    for statement in _DDL:
        conn.execute(text(statement))


def read(conn: Connection) -> LeaseRow | None:
    row = conn.execute(text(
        "SELECT epoch, holder, address, since, expires_at <= statement_timestamp(), last_takeover, previous_address, "
        "process FROM controller_lease WHERE id = 1")).first()
    return None if row is None else LeaseRow(int(row[0]), row[1], row[2], float(row[3]), bool(row[4]),
                                             float(row[5]), row[6], row[7])


def seen(conn: Connection, holder: str, address: str, started: float) -> None:
    """This controller is alive (listed by `hpcqctl status` while it keeps saying so)."""
    conn.execute(text(
        "INSERT INTO controllers (holder, address, started, seen_at) VALUES (:h, :a, :s, statement_timestamp()) "
        "ON CONFLICT (holder) DO UPDATE SET address = :a, seen_at = statement_timestamp()"),
        {"h": holder, "a": address, "s": started})


def gone(conn: Connection, holder: str) -> None:
    conn.execute(text("DELETE FROM controllers WHERE holder = :h"), {"h": holder})


def listed(conn: Connection, within_seconds: float) -> list[ControllerRow]:
    """Controllers that said they were alive within the last `within_seconds`; older
    rows (controllers that died) are dropped."""
    conn.execute(text("DELETE FROM controllers WHERE seen_at < statement_timestamp() - make_interval(secs => :w)"),
                 {"w": within_seconds * 10})
    rows = conn.execute(text(
        "SELECT holder, address, started FROM controllers "
        "WHERE seen_at >= statement_timestamp() - make_interval(secs => :w) ORDER BY started"),
        {"w": within_seconds})
    return [ControllerRow(h, a, float(s)) for h, a, s in rows]


def terminate_sessions(conn: Connection, holder: str, wait_ms: int) -> int:
    """End every database session of `holder` (its open transactions abort) and wait for
    them to be gone; returns how many there were."""
    rows = conn.execute(text(
        "SELECT pg_terminate_backend(pid, :wait) FROM pg_stat_activity "
        "WHERE application_name = :h AND pid <> pg_backend_pid()"), {"h": holder, "wait": wait_ms})
    return len(rows.all())


def take(conn: Connection, holder: str, address: str, process: str, lease_seconds: float, seen_epoch: int | None,
         *, ended: bool = False) -> int | None:
    """In the caller's transaction: take the lease if it is still the one examined
    (`seen_epoch`, None: there was none) and has expired, or, with `ended`, whatever its
    expiry (the caller knows the holder's process has ended); the new epoch, or None."""
    conn.execute(text("SET LOCAL lock_timeout = '2s'"))
    conn.execute(text(
        "INSERT INTO controller_lease (id, epoch, holder, address, since, expires_at) "
        "VALUES (1, 0, '', '', 0, '-infinity') ON CONFLICT (id) DO NOTHING"))
    row = conn.execute(text(
        "SELECT epoch, holder, address, expires_at <= statement_timestamp() FROM controller_lease "
        "WHERE id = 1 FOR UPDATE")).one()
    if not (row[3] or ended) or (seen_epoch is not None and int(row[0]) != seen_epoch):
        return None
    taken_over = bool(row[1])  # a previous holder existed: this is a takeover, not a first start
    epoch = conn.execute(text(
        f"UPDATE controller_lease SET epoch = epoch + 1, holder = :h, address = :a, process = :p, since = {_NOW}, "
        "expires_at = statement_timestamp() + make_interval(secs => :l), "
        f"last_takeover = CASE WHEN :t THEN {_NOW} ELSE last_takeover END, "
        "previous_address = CASE WHEN :t THEN address ELSE previous_address END "
        "WHERE id = 1 RETURNING epoch"),
        {"h": holder, "a": address, "p": process, "l": lease_seconds, "t": taken_over}).scalar_one()
    return int(epoch)


def renew(conn: Connection, holder: str, epoch: int, lease_seconds: float) -> bool:
    """Extend the lease if it is still this holder's and has not expired."""
    conn.execute(text("SET LOCAL lock_timeout = '1s'"))
    renewed = conn.execute(text(
        "UPDATE controller_lease SET expires_at = statement_timestamp() + make_interval(secs => :l) "
        "WHERE id = 1 AND epoch = :e AND holder = :h AND expires_at > statement_timestamp() RETURNING epoch"),
        {"h": holder, "e": epoch, "l": lease_seconds}).first()
    return renewed is not None


def release(conn: Connection, holder: str, epoch: int) -> None:
    """Let a standby take over at once (a clean stop): the lease expires now."""
    conn.execute(text("UPDATE controller_lease SET expires_at = statement_timestamp() "
                      "WHERE id = 1 AND epoch = :e AND holder = :h"), {"h": holder, "e": epoch})


def check(conn: Connection, holder: str, epoch: int) -> None:
    """First statement of every write transaction of the active controller: raises
    Fenced unless its lease is the current one and unexpired."""
    current = conn.execute(text(
        "SELECT epoch = :e AND holder = :h AND expires_at > statement_timestamp() "
        "FROM controller_lease WHERE id = 1 FOR SHARE"), {"h": holder, "e": epoch}).scalar()
    if not current:
        raise Fenced(f"the controller lease is no longer epoch {epoch}'s")
