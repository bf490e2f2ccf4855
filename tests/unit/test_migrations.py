"""A database written by an earlier schema (a stored fixture) is migrated on start."""
import asyncio
import shutil
from pathlib import Path

from hpcq.api import jobs_pb2
from hpcq.ctld.store.models import SCHEMA_VERSION
from hpcq.ctld.store.writer import Put, Store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hpcq-schema1.db"


def test_schema_1_database_is_migrated_and_keeps_every_job(tmp_path):
    db = tmp_path / "hpcq.db"
    shutil.copy(FIXTURE, db)
    store = Store(f"sqlite:///{db}")
    loaded = store.open()
    jobs = [jobs_pb2.Job.FromString(r) for r in loaded.jobs]
    assert [j.id for j in jobs] == list(range(1, 41))
    assert sum(j.state == jobs_pb2.COMPLETED for j in jobs) == 10
    assert loaded.meta["schema_version"] == str(SCHEMA_VERSION)
    assert loaded.meta["next_job_id"] == "41"
    with store.engine.connect() as conn:
        accounts = dict(conn.exec_driver_sql("SELECT id, account FROM jobs WHERE account != ''").fetchall())
    assert accounts == {i: "physics" for i in range(1, 41) if (i - 1) % 5 == 0}
    store.close()
    # and opening it again is a no-op
    again = Store(f"sqlite:///{db}")
    assert len(again.open().jobs) == 40
    again.close()


def test_an_old_database_gets_the_submit_keys_table_and_a_key_survives_reopening(tmp_path):
    db = tmp_path / "hpcq.db"
    shutil.copy(FIXTURE, db)
    store = Store(f"sqlite:///{db}")
    assert store.open().submit_keys == []
    asyncio.run(store.write([Put("submit_keys", {"id": "alice k-1", "job_ids": "41,42"})]))
    store.close()
    again = Store(f"sqlite:///{db}")
    assert again.open().submit_keys == [("alice k-1", "41,42")]
    again.close()
