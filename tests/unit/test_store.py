"""The store on a real SQLite file: group commit, last write wins, reload."""
import asyncio

from hpcq.ctld.store.models import SCHEMA_VERSION
from hpcq.ctld.store.writer import Delete, Put, Store


def job(i: int, state: int = 1) -> Put:
    return Put("jobs", {"id": i, "user": "alice", "state": state, "queue": "batch", "name": f"j{i}", "account": "",
                        "submit_time": 1.0, "end_time": 0.0, "record": b"r%d/%d" % (i, state)})


def test_concurrent_writes_share_commits_and_survive_reopen(tmp_path):
    url = f"sqlite:///{tmp_path / 'hpcq.db'}"
    store = Store(url)
    store.open()

    async def write_many():
        await asyncio.gather(*(store.write([job(i)]) for i in range(1, 2001)))
    asyncio.run(write_many())
    assert store.commits < 2000  # many waiters per commit
    store.close()

    reopened = Store(url)
    loaded = reopened.open()
    assert len(loaded.jobs) == 2000
    assert loaded.meta["schema_version"] == str(SCHEMA_VERSION)
    reopened.close()


def test_last_change_of_a_row_in_a_batch_wins(tmp_path):
    url = f"sqlite:///{tmp_path / 'hpcq.db'}"
    store = Store(url)
    store.open()
    asyncio.run(store.write([job(1, 1), job(1, 4), job(2), Delete("jobs", 2), job(3), Delete("jobs", 3), job(3, 6)]))
    store.close()
    loaded = Store(url).open()
    assert loaded.jobs == [b"r1/4", b"r3/6"]
