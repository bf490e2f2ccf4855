"""Which hpcq-ctld acts: the only one (SQLite), or the holder of the PostgreSQL lease.

Several controllers may share one PostgreSQL store; exactly one is active. A standby
polls the lease (store/lease.py) and takes it once it has expired by the database's
clock, or at once when its holder was a process of this host that has ended (a process
that no longer runs acts no more); the active renews it every RENEW_SECONDS.

The active fences itself: it acts (answers RPCs, sends to nodes) only until its last
successful renewal's start plus LEASE_SECONDS minus MARGIN, by its own monotonic clock,
which keeps running while the process is stopped; so a controller that was SIGSTOPped,
or cut from the database, stops acting before its lease can expire and a standby can
take it. Its store writes are fenced by the database itself (lease.check in every write
transaction). Nodes fence too: they take orders only from the highest controller epoch
they have registered with.

A controller that loses its lease does not demote itself in place: it stops serving and
exits (status 1), and its service manager starts it again, as a standby.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from hpcq import daemon, private_files, store_url
from hpcq.api import admin_pb2
from hpcq.ctld.store import lease
from hpcq.ctld.store.writer import StoreUnavailable

log = logging.getLogger("hpcq.ctld.leadership")

LEASE_SECONDS = 5.0    # the lease's lifetime in the database
RENEW_SECONDS = 1.0    # the active renews this often
MARGIN = 1.5           # the active stops acting this long before its lease can expire
POLL_SECONDS = 0.5     # a standby looks at the lease this often
TERMINATE_WAIT_MS = 2000
SEEN_SECONDS = 10.0    # a controller not heard from for this long is no longer listed

T = TypeVar("T")


class Role(Protocol):
    """What the servicers ask of the controller's role."""

    @property
    def epoch(self) -> int: ...

    @property
    def last_takeover(self) -> float: ...

    def may_act(self) -> bool: ...

    def controllers(self) -> list[admin_pb2.Controller]: ...


@dataclass
class Tenure:
    """How long the active may act: until its last renewal's START (by the monotonic
    clock) plus the lease's lifetime minus a margin. The database's expiry is at least
    that renewal's start plus the lifetime, so this ends MARGIN earlier, whatever the
    two clocks read."""
    lease_seconds: float = LEASE_SECONDS
    margin: float = MARGIN
    until: float = float("-inf")

    def renewed(self, started: float) -> None:
        self.until = max(self.until, started + self.lease_seconds - self.margin)

    def may_act(self, now: float) -> bool:
        return now < self.until

    def end(self) -> None:
        self.until = float("-inf")


class Sole:
    """The only controller of a SQLite store: always active, epoch 0. A lock on a file in
    the state directory keeps a second ctld on the same host from serving the same store."""

    def __init__(self, address: str, since: float) -> None:
        self.address, self.since = address, since
        self._lock_fd: int | None = None

    @property
    def epoch(self) -> int:
        return 0

    @property
    def last_takeover(self) -> float:
        return 0.0

    def may_act(self) -> bool:
        return True

    def controllers(self) -> list[admin_pb2.Controller]:
        return [admin_pb2.Controller(address=self.address, role="active", since=self.since, epoch=0)]

    def lock(self, state_dir: Path, url: str) -> None:
        """Refuse to start when another hpcq-ctld holds this state directory's lock."""
        fd = private_files.open_file(state_dir / "ctld.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise daemon.CannotStart(
                f"another hpcq-ctld serves {store_url.shown(url)}: SQLite keeps a single controller; a standby "
                "controller needs a PostgreSQL store ([ctld] database)") from None
        self._lock_fd = fd   # held for the life of the process


def process_identity(pid: int | None = None) -> str:
    """This process as another controller on the same host can check it: the kernel's
    boot, the pid namespace and the pid (a pid means the same process only within one
    boot and one namespace)."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return f"{boot}/{os.readlink('/proc/self/ns/pid')}/{os.getpid() if pid is None else pid}"


def ended_here(holder_process: str, here: str, alive: Callable[[int], bool]) -> bool:
    """Whether the lease's holder was a process of this host (same boot, same pid
    namespace: `here` is process_identity() of this process) that no longer runs. A
    process that has ended acts no more: its lease need not run out before a standby
    takes it. Anything else (another host, a pid that runs) is alive for all we know."""
    where, _, pid = holder_process.rpartition("/")
    mine, _, _ = here.rpartition("/")
    return bool(where) and where == mine and pid.isdigit() and not alive(int(pid))


def running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def holder_name() -> str:
    """This process's name in the lease and on its database sessions (application_name,
    at most 63 characters)."""
    return f"hpcq-ctld:{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """The PostgreSQL lease, as this controller holds or waits for it."""

    def __init__(self, url: str, address: str, *, holder: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.holder = holder or holder_name()
        self.address = address
        self.url = store_url.shown(url)
        self._secret_url = url
        self.engine: Engine = create_engine(url, pool_size=2, pool_pre_ping=True, connect_args=self.connect_args())
        self.clock = clock
        self.tenure = Tenure()
        self._epoch = 0
        self.since = 0.0
        self._last_takeover = 0.0
        self._listed: list[admin_pb2.Controller] = []
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = time.time()
        self.process = process_identity()

    def connect_args(self) -> dict[str, Any]:
        """Every session of this controller (the store's too) carries its holder name, so a
        standby that takes over can end them all."""
        return {"application_name": self.holder, "connect_timeout": 3}

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def last_takeover(self) -> float:
        return self._last_takeover

    def may_act(self) -> bool:
        return not self.lost.is_set() and self.tenure.may_act(self.clock())

    def controllers(self) -> list[admin_pb2.Controller]:
        return list(self._listed)

    # -- standby ------------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait as a standby until this controller holds the lease."""
        self._loop = asyncio.get_running_loop()
        waiting_for, tables = None, False
        while True:
            started = self.clock()
            try:
                if not tables:
                    try:
                        await self._db(lease.ensure_tables)
                    except (SQLAlchemyError, ValueError) as e:
                        # A store it cannot reach at all stops ctld, as a single controller's does.
                        raise StoreUnavailable(f"{self.url}: {self._reason(e)}") from None
                    tables = True
                current = await self._db(self._standby_poll)
                if current is None:
                    epoch = await self._take(None)
                elif current.expired or ended_here(current.process, self.process, running):
                    epoch = await self._take(current)
                else:
                    epoch = None
                    if waiting_for != current.epoch:
                        waiting_for = current.epoch
                        log.info("standby: %s (epoch %d) is the active controller; waiting for its lease",
                                 current.address or current.holder, current.epoch)
            except SQLAlchemyError as e:
                log.warning("standby: the store %s: %s", self.url, self._reason(e))
                epoch = None
            if epoch is not None:
                self._epoch = epoch
                self.tenure.renewed(started)
                try:
                    await self._db(self._refresh)
                except SQLAlchemyError as e:   # the list of controllers comes with the next renewal
                    log.warning("active: the store %s: %s", self.url, self._reason(e))
                return
            await asyncio.sleep(POLL_SECONDS)

    def _standby_poll(self, conn: Connection) -> lease.LeaseRow | None:
        lease.seen(conn, self.holder, self.address, self._started)
        return lease.read(conn)

    async def _take(self, current: lease.LeaseRow | None) -> int | None:
        if current is not None and current.holder:
            sessions = await self._db(lambda conn: lease.terminate_sessions(conn, current.holder, TERMINATE_WAIT_MS))
            if sessions:
                log.info("standby: ended %d database sessions of %s", sessions, current.holder)
        ended = current is not None and not current.expired
        epoch = await self._db(lambda conn: lease.take(conn, self.holder, self.address, self.process, LEASE_SECONDS,
                                                       None if current is None else current.epoch, ended=ended))
        if epoch is not None:
            what = (f"took over from {current.address or current.holder} (epoch {current.epoch})"
                    + (", whose process had ended" if ended else "")
                    if current is not None and current.holder else "holds the controller lease")
            log.info("active: %s %s, epoch %d", self.address, what, epoch)
        return epoch

    # -- active -------------------------------------------------------------------------------

    async def keep(self) -> None:
        """Renew the lease until it is lost (then `lost` is set) or this task is cancelled."""
        self._loop = asyncio.get_running_loop()
        while not self.lost.is_set():
            await asyncio.sleep(RENEW_SECONDS)
            if not self.tenure.may_act(self.clock()):
                self.lose("no renewal of the controller lease in time")
                return
            started = self.clock()
            try:
                renewed = await asyncio.wait_for(self._db(self._renew),
                                                 timeout=max(0.1, self.tenure.until - self.clock()))
            except (SQLAlchemyError, TimeoutError) as e:
                log.warning("could not renew the controller lease: %s", self._reason(e) or "timed out")
                continue   # the tenure decides: a later renewal may still come in time
            if not renewed:
                self.lose(f"the controller lease is no longer epoch {self._epoch}'s")
                return
            self.tenure.renewed(started)

    def _renew(self, conn: Connection) -> bool:
        if not lease.renew(conn, self.holder, self._epoch, LEASE_SECONDS):
            return False
        self._refresh(conn)
        return True

    def _refresh(self, conn: Connection) -> None:
        lease.seen(conn, self.holder, self.address, self._started)
        current = lease.read(conn)
        if current is None:
            return
        self.since, self._last_takeover = current.since, current.last_takeover
        listed = [admin_pb2.Controller(address=current.address, role="active", since=current.since,
                                       epoch=current.epoch)]
        listed += [admin_pb2.Controller(address=c.address, role="standby", since=c.started, epoch=current.epoch)
                   for c in lease.listed(conn, SEEN_SECONDS) if c.holder != current.holder]
        self._listed = listed

    def check_write(self, conn: Connection) -> None:
        """The store's fence (on the writer thread, inside each write transaction)."""
        try:
            lease.check(conn, self.holder, self._epoch)
        except lease.Fenced as e:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self.lose, str(e))
            raise

    def lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.tenure.end()
            self.lost_reason = reason
            self.lost.set()

    async def release(self) -> None:
        """A clean stop: give the lease up so that a standby takes over at once."""
        self.tenure.end()
        try:
            await asyncio.wait_for(self._db(self._release), timeout=3)
        except (SQLAlchemyError, TimeoutError) as e:
            log.warning("could not release the controller lease (a standby waits for it to expire): %s",
                        self._reason(e) or "timed out")

    def _release(self, conn: Connection) -> None:
        lease.release(conn, self.holder, self._epoch)
        lease.gone(conn, self.holder)

    def close(self) -> None:
        self.engine.dispose()

    def _reason(self, e: BaseException) -> str:
        """The first line of a database error, without the URL's password."""
        return store_url.scrub(_first_line(e), self._secret_url)

    async def _db(self, work: Callable[[Connection], T]) -> T:
        """`work` in one transaction, on a thread: the event loop never waits on the database."""
        def run() -> T:
            with self.engine.begin() as conn:
                return work(conn)
        return await asyncio.to_thread(run)


def _first_line(e: BaseException) -> str:
    return str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(e).strip() else ""


class ActiveOnly(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Every RPC of a controller that may no longer act is refused with UNAVAILABLE (the
    callers move on to the next controller), before the servicer runs."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails],
                                                             Awaitable[grpc.RpcMethodHandler[Any, Any]]],
                                handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or self.role.may_act():
            return handler
        return _refusing(handler)


_NOT_ACTIVE = "this hpcq-ctld is not the active controller"


def _refusing(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    async def refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAVAILABLE, _NOT_ACTIVE)

    async def refuse_stream(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        nothing: tuple[Any, ...] = ()
        for item in nothing:  # an async generator, as a streaming handler is, that yields nothing
            yield item
        await context.abort(grpc.StatusCode.UNAVAILABLE, _NOT_ACTIVE)

    kinds = {(False, False): grpc.unary_unary_rpc_method_handler, (False, True): grpc.unary_stream_rpc_method_handler,
             (True, False): grpc.stream_unary_rpc_method_handler, (True, True): grpc.stream_stream_rpc_method_handler}
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(refuse_stream if handler.response_streaming else refuse,
                request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
