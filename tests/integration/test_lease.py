"""The controller lease on a real PostgreSQL: who may take it, and the fencing of an old
active controller's writes (store/lease.py, leadership.py)."""
from __future__ import annotations

import asyncio
import itertools
import time

import psycopg
import pytest
from sqlalchemy import create_engine, text

from hpcq.ctld.leadership import LEASE_SECONDS, MARGIN, RENEW_SECONDS, Leadership
from hpcq.ctld.store import lease
from hpcq.ctld.store.writer import Put, Store, StoreError

pytestmark = pytest.mark.integration
_names = itertools.count()


@pytest.fixture
def url(postgres) -> str:
    return postgres.create_database(f"lease_{next(_names)}")


def expire(url: str) -> None:
    """What the passing of LEASE_SECONDS does, without waiting for it."""
    with create_engine(url).begin() as conn:
        conn.execute(text("UPDATE controller_lease SET expires_at = statement_timestamp() - interval '1 s'"))


def test_a_standby_takes_the_lease_only_once_it_has_expired(url):
    async def scenario() -> None:
        first, second = Leadership(url, "127.0.0.2:1"), Leadership(url, "127.0.0.3:1")
        await first.acquire()
        assert first.epoch == 1 and first.may_act()
        waiting = asyncio.create_task(second.acquire())
        await asyncio.sleep(1.0)   # several polls of the standby: the lease is first's
        assert not waiting.done()
        assert [(c.address, c.role) for c in first.controllers()] == [("127.0.0.2:1", "active")]
        await first._db(first._refresh)
        assert [(c.address, c.role) for c in first.controllers()] == [("127.0.0.2:1", "active"),
                                                                      ("127.0.0.3:1", "standby")]
        expire(url)
        await asyncio.wait_for(waiting, timeout=10)
        assert second.epoch == 2
        # The old active's renewal fails: it loses the lease.
        assert not await first._db(first._renew)
        assert second.last_takeover > 0
        active = second.controllers()[0]
        assert (active.address, active.role, active.epoch) == ("127.0.0.3:1", "active", 2)
        first.close()
        second.close()
    asyncio.run(scenario())


def test_the_old_active_controllers_writes_fail_after_a_takeover(url):
    async def scenario() -> None:
        old = Leadership(url, "old:1")
        await old.acquire()
        store = Store(url, connect_args=old.connect_args())
        store.fence = old.check_write
        store.open()
        await store.write([Put("meta", {"key": "written_by", "value": "old"})])
        expire(url)
        new = Leadership(url, "new:1")
        await new.acquire()
        # Its session was ended by the takeover; on a new one, the lease check refuses.
        with pytest.raises(StoreError, match="terminating connection"):
            await store.write([Put("meta", {"key": "written_by", "value": "old, after the takeover"})])
        with pytest.raises(StoreError, match="refused: the controller lease is no longer epoch 1's"):
            await store.write([Put("meta", {"key": "written_by", "value": "old, after the takeover"})])
        await asyncio.sleep(0)   # the fence tells the old leadership on the event loop
        assert old.lost.is_set() and not old.may_act()
        with create_engine(url).connect() as conn:
            assert conn.execute(text("SELECT value FROM meta WHERE key = 'written_by'")).scalar() == "old"
        store.close()
        old.close()
        new.close()
    asyncio.run(scenario())


def test_a_takeover_ends_the_old_holders_open_transaction(url):
    """A stopped controller may hold a transaction open (its session lives on): the
    standby terminates its sessions, so the transaction never commits."""
    async def scenario() -> None:
        old = Leadership(url, "old:1")
        await old.acquire()
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        expire(url)
        stuck = psycopg.connect(plain, application_name=old.holder)
        stuck.execute("SELECT epoch FROM controller_lease FOR SHARE")   # the start of a write, then nothing
        new = Leadership(url, "new:1")
        await asyncio.wait_for(new.acquire(), timeout=10)
        assert new.epoch == 2
        with pytest.raises(psycopg.OperationalError):
            stuck.execute("COMMIT")
        old.close()
        new.close()
    asyncio.run(scenario())


def test_the_lease_row_fences_a_holder_by_epoch(url):
    with create_engine(url).begin() as conn:
        lease.ensure_tables(conn)
        assert lease.take(conn, "a", "a:1", "", 5.0, None) == 1
        lease.check(conn, "a", 1)
        with pytest.raises(lease.Fenced):
            lease.check(conn, "b", 1)
        assert lease.take(conn, "b", "b:1", "", 5.0, 1) is None   # not expired: nobody else takes it
        assert lease.take(conn, "b", "b:1", "", 5.0, 0, ended=True) is None   # not the lease examined
        assert lease.renew(conn, "a", 1, 5.0)
        assert not lease.renew(conn, "a", 2, 5.0)


def test_an_active_controller_that_loses_the_database_stops_acting_before_its_lease_can_expire(url):
    async def scenario() -> None:
        active = Leadership(url, "a:1")
        await active.acquire()
        keeping = asyncio.create_task(active.keep())
        await asyncio.sleep(1.5)
        assert active.may_act() and not active.lost.is_set(), "renewed meanwhile"
        # The database goes out of reach: every renewal fails from now on.
        active.engine.dispose()
        active.engine = create_engine("postgresql+psycopg://hpcq@127.0.0.1:1/none",
                                      connect_args={"connect_timeout": 1})
        cut = time.monotonic()
        await asyncio.wait_for(active.lost.wait(), timeout=10)
        assert time.monotonic() - cut < LEASE_SECONDS - MARGIN + RENEW_SECONDS
        assert not active.may_act()
        assert active.lost_reason == "no renewal of the controller lease in time"
        await keeping
        active.close()
    asyncio.run(scenario())
