"""Tasks started for their effect: kept until they end, a failure logged."""
import asyncio
import logging

from hpcq.noded.supervised import Supervised

log = logging.getLogger("test.supervised")


def test_a_failed_task_is_logged_and_a_finished_one_is_let_go(caplog):
    async def fails() -> None:
        raise RuntimeError("no spool")

    async def scenario() -> int:
        tasks = Supervised(log)
        failing = tasks.start(fails(), "launch of job 7")
        fine = tasks.start(asyncio.sleep(0), "nothing")
        await asyncio.gather(failing, fine, return_exceptions=True)
        await asyncio.sleep(0)          # the done callbacks run on the next turn of the loop
        return len(tasks)
    with caplog.at_level(logging.ERROR, logger="test.supervised"):
        assert asyncio.run(scenario()) == 0
    assert "launch of job 7 failed" in caplog.text and "no spool" in caplog.text


def test_cancel_all_ends_what_still_runs():
    async def scenario() -> bool:
        tasks = Supervised(log)
        stuck = tasks.start(asyncio.Event().wait(), "waits forever")
        await tasks.cancel_all()
        return stuck.cancelled()
    assert asyncio.run(scenario())
